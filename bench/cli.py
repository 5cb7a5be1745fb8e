"""`python -m bench`: the map of the tool.

Bad input gets exit code 2 and one readable line; nothing is started before
the arguments have been checked.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
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


def cmd_perf_service(args: argparse.Namespace) -> int:
    from bench.perf_service import PerfError, measure, report
    from bench.redis_server import RedisServerNotFound

    try:
        rps = measure(args.duration, args.connections, args.rounds)
    except (PerfError, RedisServerNotFound) as exc:
        raise UsageError(str(exc)) from None
    print(report(rps))
    return 0


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

    perf = commands.add_parser(
        "perf-service", help="rps of the cached read paths against bare endpoints (needs wrk)"
    )
    perf.add_argument("--duration", type=positive_int, default=5, help="seconds per measurement")
    perf.add_argument("--connections", type=positive_int, default=32)
    perf.add_argument("--rounds", type=positive_int, default=3, help="interleaved rounds")
    perf.set_defaults(handler=cmd_perf_service)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"python -m bench {args.command}: error: {exc}", file=sys.stderr)
        return 2
