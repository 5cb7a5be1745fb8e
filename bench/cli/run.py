"""`seed`, `run`, `report`, `compare`, `perf-service` and `perf-analysis`: one run, what
reads a run, and how fast the parts go."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.cli.budget import add_budget_options, budget_from
from bench.cli.options import (
    PROG,
    UsageError,
    add_load_options,
    add_percentiles_option,
    add_runtime_options,
    add_target_options,
    checked_runtime,
    number_list,
    positive_int,
    require_summary,
    usable_results,
)
from bench.cli.strategy_options import given_options


def cmd_seed(args: argparse.Namespace) -> int:
    from bench.runtime.seed import SeedPlan, seed
    from services.origin import OriginUnavailable

    plan = SeedPlan(args.products, args.categories, args.probe_products)
    try:
        inserted = seed(args.database_url, plan)
    except OriginUnavailable as exc:
        raise UsageError(str(exc)) from None
    print(f"seeded {args.database_url}: {inserted} new rows of {len(plan.rows())}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bench.layout import RunFolder
    from bench.manifest import run_folder_now
    from bench.run_config import ConfigError, RunConfig, scenario_ttl_s
    from bench.runtime import runtime_for
    from services.strategies import GUIDE_STRATEGIES

    ttl_s = scenario_ttl_s(args.scenario) if args.ttl is None else args.ttl
    strategies, replicas = args.strategies, args.replicas
    if args.runtime == "external":  # the label stands where a strategy name stands
        if strategies is not None:
            raise UsageError("--strategies: with --runtime external the service is --label NAME")
        strategies = (args.label or "",)
        replicas = len(args.targets) if replicas is None else replicas
    elif args.label is not None:
        raise UsageError("--label names a service measured with --runtime external")
    try:
        config = RunConfig(
            strategies=strategies or GUIDE_STRATEGIES,
            replicas=RunConfig.replicas if replicas is None else replicas,
            scenario=args.scenario,
            duration_s=args.duration, ttl_s=ttl_s, users=args.users, rate=args.rate,
            arrivals=args.arrivals, request_timeout_s=args.request_timeout_s,
            origin_delay_ms=args.origin_delay_ms, products=args.products,
            origin=args.origin, origin_lag_ms=args.origin_lag_ms,
            link_delay=args.link_delay,
            categories=args.categories, seed=args.seed, locust_workers=args.locust_workers,
            locust_master=args.locust_master, poll_ms=args.poll_ms, percentiles=args.percentiles,
            runtime=args.runtime, results=args.results, faults=tuple(args.fault),
            options=given_options(args), targets=args.targets, probe_ids=args.probe_ids,
        )  # fmt: skip
        if args.dry_run:  # nothing is checked, started or created: the commands only
            folder = RunFolder(run_folder_now(config.results, config.scenario))
            print("\n".join(runtime_for(config.runtime).plan(config, folder)))
            return 0
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    budget = budget_from(args)
    if args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}")
    if args.repeats > 1:
        return run_repeated(args, config, budget)
    runtime = checked_runtime(config.runtime, config)
    usable_results(config.results)
    # imported once the input is known good: analysis and plots (pandas, matplotlib) cost
    # about 0.6 s, which a refusal in one line need not pay
    from bench.experiment import run_experiment

    outcome = run_experiment(config, runtime, budget=budget)
    print(f"results: {outcome.folder} ({outcome.status})")
    return outcome.exit_code


def run_repeated(args: argparse.Namespace, config: Any, budget: Any) -> int:
    """`--repeats N`: every strategy N times, interleaved, each on a fresh deployment: a
    sweep of the run's one TTL and replica count (`bench.analysis.repeated`)."""
    from bench.manifest import REPEATS_KIND
    from bench.matrix import SweepConfig
    from bench.run_config import ConfigError

    if args.dry_run:
        raise UsageError("--dry-run: give it without --repeats (each repeat runs the same)")
    try:
        sweep = SweepConfig(config, (config.ttl_s,), (config.replicas,), args.repeats, budget)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    runtime = checked_runtime(config.runtime, config)
    usable_results(config.results)
    from bench.sweep import run_sweep

    outcome = run_sweep(sweep, runtime, kind=REPEATS_KIND)
    print(f"results: {outcome.folder} ({outcome.status})")
    return outcome.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    from bench.analysis import percentiles
    from bench.analysis.summary import write_analysis
    from bench.disk import DiskFull, discard_derived, no_space
    from bench.layout import RunFolder
    from bench.manifest import (
        has_cells,
        is_repeated,
        is_sweep,
        note_report,
        read_manifest,
        record_budget,
        record_clock_correction,
    )
    from bench.report.repeated import rebuild_repeats
    from bench.report.run import build_report
    from bench.report.sweep import rebuild_sweep

    folder: Path = args.folder
    if not RunFolder(folder).manifest.is_file():
        raise UsageError(f"{folder} is not a run folder (no run.json)")
    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.percentiles is not None:  # the report shows these from now on
        percentiles.record(folder, manifest, args.percentiles)
    folders = [folder]  # what this rewrites: a sweep's cells too
    if has_cells(manifest):
        cells = (folder / record["folder"] for record in manifest["cells"].values())
        folders += [cell for cell in cells if RunFolder(cell).manifest.is_file()]
    budget = budget_from(args)
    if budget is not None:  # the report opens with this budget's decision from now on
        record_budget(folder, manifest, budget.as_json())
    if args.clock_correction is not None:  # kept for later rebuilds, as the budget is
        record_clock_correction(folders, args.clock_correction == "on")
    try:
        if is_repeated(manifest):  # every repeat re-analysed, then the run's summary
            markdown, html = rebuild_repeats(folder)
        elif is_sweep(manifest):  # every cell re-analysed, then the sweep's report
            markdown, html = rebuild_sweep(folder)
        else:
            write_analysis(folder)
            markdown, html = build_report(folder)
    except (DiskFull, OSError) as exc:
        if no_space(exc) is None:
            raise
        for each in folders:  # what was written (any of it may be partial) goes, and
            discard_derived(RunFolder(each))  # run.json says so
            note_report(each, written=False)
        failure = DiskFull(folder, "the analysis and report were not written")
        print(f"{PROG} report: error: {failure}", file=sys.stderr)
        return 1
    for each in folders:
        note_report(each, written=True)
    print(f"report: {markdown}\nreport: {html}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.manifest import is_sweep, read_manifest
    from bench.report.compare import compare, write_compare

    for folder in (args.a, args.b):
        require_summary(folder)
        try:
            sweep = is_sweep(read_manifest(folder))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{folder}: no readable run.json ({exc})") from None
        if sweep:  # its summary has a row per cell, not per strategy: refuse, do not guess
            raise UsageError(f"{folder} is a sweep; compare two run folders, such as two of"
                             f" its cells ({folder}/cells/<cell>)")  # fmt: skip
    print(compare(args.a, args.b))
    print(f"written to {write_compare(args.a, args.b, args.out)}", file=sys.stderr)
    return 0


def cmd_perf_service(args: argparse.Namespace) -> int:
    from bench.perf.service import PerfError, measure, report
    from bench.runtime.base import RuntimeUnavailable

    try:
        rps = measure(args.duration, args.connections, args.rounds)
    except (PerfError, RuntimeUnavailable) as exc:
        raise UsageError(str(exc)) from None
    print(report(rps))
    return 0


def cmd_perf_analysis(args: argparse.Namespace) -> int:
    from bench.perf.analysis import PerfError, measure

    for rows in args.rows:
        try:
            print(measure(rows, args.max_rss_gib, copies=not args.csv_only).line(), flush=True)
        except PerfError as exc:
            print(f"rows {rows:>12,}  {exc}", flush=True)
            return 1
    return 0


def add_run_commands(commands: Any) -> None:
    """Add `seed`, `run`, `report`, `compare`, `perf-service` and `perf-analysis` to
    `cache-bench`."""
    from bench.run_config import RunConfig

    seed = commands.add_parser("seed", help="create and fill the origin (idempotent)")
    seed.add_argument("--database-url", required=True, help="sqlite:///path or postgresql://...")
    seed.add_argument("--products", type=positive_int, default=1000)
    seed.add_argument("--categories", type=positive_int, default=10)
    seed.add_argument(
        "--probe-products",
        type=positive_int,
        default=16,
        help="products in the probe-only category",
    )
    seed.set_defaults(handler=cmd_seed)

    defaults = RunConfig()
    run = commands.add_parser("run", help="measure strategies under one scenario")
    run.add_argument(
        "--replicas", type=int, default=None,
        help=f"per strategy (default {defaults.replicas}; external: one per --targets URL)",
    )  # fmt: skip
    run.add_argument(
        "--duration", type=float, default=defaults.duration_s, help="seconds of load per strategy"
    )
    run.add_argument(
        "--ttl", type=float, default=None, help="CACHE_TTL in seconds (default 30; stampede: 2)"
    )
    run.add_argument(
        "--repeats", type=int, default=1,
        help="run every strategy N times, interleaved, each on a fresh deployment; figures"
             " become means with 95%% intervals (default 1)",
    )  # fmt: skip
    add_load_options(run, strategies_default=None)
    add_runtime_options(run)
    add_budget_options(run)
    add_target_options(run)
    run.add_argument(
        "--label", default=None, metavar="NAME",
        help="with --runtime external: the service's name, where a strategy's name would stand",
    )  # fmt: skip
    run.set_defaults(handler=cmd_run)

    report = commands.add_parser(
        "report", help="re-analyse a run folder's raw files and rebuild its report"
    )
    report.add_argument("folder", type=Path)
    report.add_argument(
        "--clock-correction", choices=("on", "off"), default=None,
        help="map Locust workers' rows onto the master's clock (clocks.csv) before judging"
             " staleness: on (the default), or off to see what the hosts' skew alone does",
    )  # fmt: skip
    add_budget_options(report)
    add_percentiles_option(report, None)  # None: as run.json's config says
    report.set_defaults(handler=cmd_report)

    comparison = commands.add_parser("compare", help="two runs side by side, with deltas")
    comparison.add_argument("a", type=Path, help="the baseline run folder")
    comparison.add_argument("b", type=Path, help="the run compared with it")
    comparison.add_argument(
        "--out", type=Path, default=None, help="markdown file (default: B/compare-<A>.md)"
    )
    comparison.set_defaults(handler=cmd_compare)

    perf = commands.add_parser(
        "perf-service", help="rps of the cached read paths against bare endpoints (needs wrk)"
    )
    perf.add_argument("--duration", type=positive_int, default=5, help="seconds per measurement")
    perf.add_argument("--connections", type=positive_int, default=32)
    perf.add_argument("--rounds", type=positive_int, default=3, help="interleaved rounds")
    perf.set_defaults(handler=cmd_perf_service)

    scale = commands.add_parser(
        "perf-analysis", help="analysis wall time, rows/s and peak memory of a synthetic run"
    )
    scale.add_argument(
        "--rows", type=number_list(positive_int), required=True, metavar="N[,N...]",
        help="request rows of each synthetic run, e.g. 1000000,3000000",
    )  # fmt: skip
    scale.add_argument(
        "--max-rss-gib", type=float, default=20.0,
        help="stop an analysis whose memory passes this (default 20 GiB)",
    )  # fmt: skip
    scale.add_argument(
        "--csv-only", action="store_true",
        help="build the run without the recorder's Parquet copies, as a run recorded"
             " before them: analysis then loads the CSVs",
    )  # fmt: skip
    scale.set_defaults(handler=cmd_perf_analysis)
