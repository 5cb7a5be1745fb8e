"""`bench sweep` and `bench tune` on the command line: their options and handlers.

Bad input is exit 2 and one line, as for `run`; `--runtime` and `--dry-run` work as for
`run`, cell by cell.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.budget import add_budget_options, budget_from
from bench.cli.options import (
    UsageError,
    add_load_options,
    add_runtime_options,
    checked_runtime,
    number_list,
    require_summary,
    usable_results,
)
from bench.cli.strategy_options import given_options, variation
from bench.run_config import ConfigError, RunConfig
from services.strategies import GUIDE_STRATEGIES

DEFAULT_TTLS_S = (1.0, 5.0, 30.0)
DEFAULT_CELL_S = 20.0  # a cell is short: startup and teardown add ~5 s to each


def cmd_sweep(args: argparse.Namespace) -> int:
    from bench.analysis.tune import BudgetError
    from bench.manifest import SWEEP_KIND, run_folder_now
    from bench.matrix import SweepConfig
    from bench.report.tuning import tune_folder
    from bench.runtime import runtime_for
    from bench.sweep import run_sweep, sweep_plan

    if args.runtime == "external":
        raise UsageError(
            "a sweep sets TTLs and replica counts, which a service the suite did not start"
            " keeps to itself; use cache-bench run --runtime external"
        )
    try:
        base = RunConfig(
            strategies=args.strategies, scenario=args.scenario, duration_s=args.duration,
            users=args.users, rate=args.rate, origin_delay_ms=args.origin_delay_ms,
            origin=args.origin, origin_lag_ms=args.origin_lag_ms,
            link_delay=args.link_delay,
            arrivals=args.arrivals, request_timeout_s=args.request_timeout_s,
            products=args.products, categories=args.categories, seed=args.seed,
            locust_workers=args.locust_workers, locust_master=args.locust_master,
            poll_ms=args.poll_ms,
            percentiles=args.percentiles,
            runtime=args.runtime, results=args.results, faults=tuple(args.fault),
            options=given_options(args),
        )  # fmt: skip
        budget = budget_from(args, needs_stale=True)
        config = SweepConfig(base, args.ttls, args.replicas, args.repeats, budget,
                             variations=tuple(args.vary))  # fmt: skip
        if args.dry_run:  # nothing is checked, started or created: the commands only
            folder = run_folder_now(base.results, f"{SWEEP_KIND}-{base.scenario}")
            print("\n".join(sweep_plan(config, runtime_for(base.runtime), folder)))
            return 0
    except (ConfigError, BudgetError) as exc:
        raise UsageError(str(exc)) from None
    runtime = checked_runtime(base.runtime, base)
    usable_results(base.results)
    outcome = run_sweep(config, runtime)
    if budget and outcome.status != "interrupted":
        print(tune_folder(outcome.folder, budget))
    print(f"results: {outcome.folder} ({outcome.status})")
    return outcome.exit_code


def cmd_tune(args: argparse.Namespace) -> int:
    from bench.report.tuning import tune_folder

    folder: Path = args.folder
    require_summary(folder)
    budget = budget_from(args, needs_stale=True)
    assert budget is not None  # --max-stale-ms is required
    print(tune_folder(folder, budget))
    return 0


def add_sweep_commands(commands: Any) -> None:
    """Add `sweep` and `tune` to the subcommands of `cache-bench`."""
    defaults = RunConfig()
    sweep = commands.add_parser(
        "sweep", help="a matrix of short runs: strategies x TTLs x replicas x repeats"
    )
    sweep.add_argument(
        "--ttls",
        type=number_list(float),
        default=DEFAULT_TTLS_S,
        help="comma-separated CACHE_TTL values in s (default: 1,5,30)",
    )
    sweep.add_argument(
        "--replicas",
        type=number_list(int),
        default=(defaults.replicas,),
        help=f"comma-separated replica counts (default: {defaults.replicas})",
    )
    sweep.add_argument(
        "--repeats", type=int, default=1, help="runs per cell, for 95%% intervals (default: 1)"
    )
    sweep.add_argument(
        "--vary", type=variation, action="append", default=[], metavar="STRATEGY.OPTION=V1,V2",
        help="a strategy option as one more axis of the matrix, e.g. xfetch.beta=1,2,4"
        " (repeatable)",
    )  # fmt: skip
    sweep.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_CELL_S,
        help=f"seconds of load per cell (default: {DEFAULT_CELL_S:g})",
    )
    add_load_options(sweep, GUIDE_STRATEGIES)
    add_runtime_options(sweep)
    add_budget_options(sweep)
    sweep.set_defaults(handler=cmd_sweep)

    tune = commands.add_parser(
        "tune", help="per strategy, the largest TTL within a staleness budget, and a pick"
    )
    tune.add_argument("folder", type=Path, help="a sweep (or run) folder with a summary.csv")
    add_budget_options(tune, stale_required=True)
    tune.set_defaults(handler=cmd_tune)
