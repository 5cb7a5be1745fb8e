"""`python -m bench`: the map of the tool.

Bad input gets exit code 2 and one readable line; nothing is started before
the arguments have been checked.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn


class UsageError(Exception):
    """Bad input found after parsing (e.g. no redis-server anywhere); exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not the usage block plus a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_seed(args: argparse.Namespace) -> int:
    from bench.seed import SeedPlan, seed
    from services.origin import OriginUnavailable

    plan = SeedPlan(args.products, args.categories, args.probe_products)
    try:
        inserted = seed(args.database_url, plan)
    except OriginUnavailable as exc:
        raise UsageError(str(exc)) from None
    print(f"seeded {args.database_url}: {inserted} new rows of {len(plan.rows())}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.analysis import write_analysis
    from bench.manifest import read_manifest
    from bench.report import build_report

    folder: Path = args.folder
    if not (folder / "run.json").is_file():
        raise UsageError(f"{folder} is not a run folder (no run.json)")
    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from bench.sweep_report import is_sweep, rebuild_sweep

    if is_sweep(manifest):  # every cell re-analysed, then the sweep's report
        markdown, html = rebuild_sweep(folder)
    else:
        write_analysis(folder)
        markdown, html = build_report(folder)
    print(f"report: {markdown}\nreport: {html}")
    return 0


def require_summary(folder: Path) -> None:
    """Commands that read analysis output refuse a folder that has none, saying how to make it."""
    if not (folder / "summary.csv").is_file():
        raise UsageError(f"{folder} has no summary.csv; run `python -m bench report {folder}`")


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.compare import compare, write_compare

    for folder in (args.a, args.b):
        require_summary(folder)
    print(compare(args.a, args.b))
    print(f"written to {write_compare(args.a, args.b, args.out)}", file=sys.stderr)
    return 0


def cmd_perf_service(args: argparse.Namespace) -> int:
    from bench.perf_service import PerfError, measure, report
    from bench.redis_server import RedisServerNotFound

    try:
        rps = measure(args.duration, args.connections, args.rounds)
    except (PerfError, RedisServerNotFound) as exc:
        raise UsageError(str(exc)) from None
    print(report(rps))
    return 0


def strategy_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def rate(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of requests/s or 'max', got {text!r}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from bench.experiment import run_experiment
    from bench.redis_server import RedisServerNotFound, find_redis_server
    from bench.run_config import ConfigError, RunConfig
    from bench.runtime_compose import ComposeUnavailable, run_compose

    try:
        config = RunConfig(
            strategies=args.strategies, replicas=args.replicas, scenario=args.scenario,
            duration_s=args.duration, ttl_s=args.ttl, users=args.users, rate=args.rate,
            origin_delay_ms=args.origin_delay_ms, products=args.products,
            categories=args.categories, seed=args.seed, locust_workers=args.locust_workers,
            poll_ms=args.poll_ms,
            runtime=args.runtime, results=args.results,
        )  # fmt: skip
        if config.runtime == "compose":  # no engine: exit 2 before anything is created
            return run_compose(config, dry_run=args.dry_run)
        if args.dry_run:
            raise ConfigError("--dry-run prints the commands of --runtime compose; local has none")
        redis_binary = find_redis_server()
    except (ConfigError, RedisServerNotFound, ComposeUnavailable) as exc:
        raise UsageError(str(exc)) from None
    outcome = run_experiment(config, redis_binary)
    print(f"results: {outcome.folder} ({outcome.status})")
    return outcome.exit_code


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """What `run` and `sweep` share: strategies, scenario, load shape, catalogue, probe, output."""
    from bench.run_config import DEFAULT_RATE, SCENARIOS, RunConfig
    from services.config import STRATEGY_NAMES

    defaults = RunConfig()
    parser.add_argument(
        "--strategies", type=strategy_list, default=STRATEGY_NAMES,
        help=f"comma-separated (default: {','.join(STRATEGY_NAMES)})",
    )  # fmt: skip
    parser.add_argument(
        "--scenario", default=defaults.scenario, help=f"one of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--users", type=int, default=defaults.users, help="Locust users")
    parser.add_argument(
        "--rate", type=rate, default=DEFAULT_RATE,
        help=f"total requests/s, paced (default {DEFAULT_RATE:.0f}); 'max' = no pacing",
    )  # fmt: skip
    parser.add_argument(
        "--origin-delay-ms", type=float, default=None,
        help="added to every origin query (default: 0, or 20 for race)",
    )  # fmt: skip
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--categories", type=int, default=defaults.categories)
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seeds the key choice")
    parser.add_argument(
        "--locust-workers", type=int, default=0,
        help="0: one Locust process; K: a master and K workers",
    )  # fmt: skip
    parser.add_argument(
        "--poll-ms", type=float, default=defaults.poll_ms,
        help="the probe's poll interval (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--results", type=Path, default=defaults.results,
        help="where run folders go (default: results/)",
    )  # fmt: skip


def build_parser() -> Parser:
    parser = Parser(prog="python -m bench", description="Benchmark cache-invalidation strategies.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

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

    from bench.run_config import RUNTIMES, RunConfig

    defaults = RunConfig()
    run = commands.add_parser("run", help="measure strategies under one scenario")
    run.add_argument("--replicas", type=int, default=defaults.replicas, help="per strategy")
    run.add_argument(
        "--duration", type=float, default=defaults.duration_s, help="seconds of load per strategy"
    )
    run.add_argument("--ttl", type=float, default=defaults.ttl_s, help="CACHE_TTL in seconds")
    add_load_options(run)
    run.add_argument("--runtime", default="local", help=f"one of {', '.join(RUNTIMES)}")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="with --runtime compose: print every docker command, in order, and run nothing",
    )
    run.set_defaults(handler=cmd_run)

    report = commands.add_parser(
        "report", help="re-analyse a run folder's raw files and rebuild its report"
    )
    report.add_argument("folder", type=Path)
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

    from bench.sweep_cli import add_sweep_commands

    add_sweep_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"python -m bench {args.command}: error: {exc}", file=sys.stderr)
        return 2
