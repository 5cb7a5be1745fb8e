"""What the commands share: the parser that errs in one line, argument types, the load and
runtime options of `run` and `sweep`, and turning a checked runtime into exit code 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bench.cli.strategy_options import add_strategy_options
from bench.faults.kinds import KINDS
from bench.faults.link_delay import LinkDelay, LinkDelaySpecError, parse_link_delay
from bench.faults.spec import Fault, FaultSpecError, parse_fault
from bench.layout import RunFolder

if TYPE_CHECKING:
    from bench.run_config import RunConfig
    from bench.runtime.base import Runtime


# The console script's name (pyproject's [project.scripts]), the program every usage line,
# error line and hint names; `python -m bench` runs the same `bench.cli.main`.
PROG = "cache-bench"


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


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def strategy_list(text: str) -> tuple[str, ...]:
    """`delete,pubsub`; `all`: every registered strategy, beyond the guide's too;
    `libraries` in the list: every library-backed one (`delete,libraries`)."""
    from services.strategies import LIBRARY_STRATEGIES, STRATEGY_NAMES

    if text.strip() == "all":
        return STRATEGY_NAMES
    items = [name.strip() for name in text.split(",") if name.strip()]
    return tuple(
        n for item in items for n in (LIBRARY_STRATEGIES if item == "libraries" else (item,))
    )


def rate(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of requests/s or 'max', got {text!r}") from None


def number_list(kind: Callable[[str], Any]) -> Callable[[str], tuple]:
    """An argparse type for `1,5,30`; empty items are dropped (the config rejects none)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(item) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"comma-separated numbers, got {text!r}") from None

    return parse


def percentile_list(text: str) -> tuple[float, ...]:
    """An argparse type for `--percentiles 50,95,99.9`: each in (0, 100], sorted, once each."""
    from bench.run_config import ConfigError, parse_percentiles

    try:
        return parse_percentiles(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--percentiles: ")) from None


def add_percentiles_option(parser: argparse.ArgumentParser, default: Any) -> None:
    """`--percentiles` of `run`, `sweep` (recorded in run.json) and `report` (recorded anew)."""
    from bench.run_config import DEFAULT_PERCENTILES

    parser.add_argument(
        "--percentiles", type=percentile_list, default=default, metavar="P[,P...]",
        help=f"the latency percentiles the report's latency table and tail plot show, each in"
             f" (0, 100], computed exactly from the recorded rows (default"
             f" {','.join(f'{p:g}' for p in DEFAULT_PERCENTILES)})",
    )  # fmt: skip


def fault(text: str) -> Fault:
    """An argparse type for `--fault KIND@AT[+FOR][:ARG]`."""
    try:
        return parse_fault(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--fault {text}: ")) from None


def link_delay(text: str) -> tuple[LinkDelay, ...]:
    """An argparse type for `--link-delay redis=MS[~JITTER][,origin=MS[~JITTER]]`."""
    try:
        return parse_link_delay(text)
    except LinkDelaySpecError as exc:
        raise argparse.ArgumentTypeError(
            str(exc).removeprefix(f"--link-delay {text}: ").removeprefix("--link-delay ")
        ) from None


def target_list(text: str) -> tuple[str, ...]:
    """`http://host:port[,...]`: each one replica's base URL, as a load balancer sees it."""
    from bench.targets import BadTarget, parse_targets

    try:
        return parse_targets(text)
    except BadTarget as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def id_range(text: str) -> tuple[int, ...]:
    """An argparse type for `FIRST-LAST`."""
    from bench.contract import parse_id_range

    try:
        return parse_id_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """Where a service the suite did not start is, and which of its ids are the probe's."""
    parser.add_argument(
        "--targets", type=target_list, default=(), metavar="URL[,URL...]",
        help="with --runtime external: the service's replicas, one base URL each",
    )  # fmt: skip
    parser.add_argument(
        "--probe-ids", type=id_range, default=(), metavar="FIRST-LAST",
        help="with --runtime external: product ids outside 1..--products that no load touches;"
             " the last takes the contract check's write, the others the probe's",
    )  # fmt: skip


def require_summary(folder: Path) -> None:
    """Commands that read analysis output refuse a folder that has none, saying how to make it."""
    if not RunFolder(folder).summary.is_file():
        raise UsageError(f"{folder} has no summary.csv; run `cache-bench report {folder}`")


def add_load_options(
    parser: argparse.ArgumentParser, strategies_default: tuple[str, ...] | None = None
) -> None:
    """What `run` and `sweep` share: strategies, scenario, load shape, catalogue, probe, output.

    `strategies_default` None leaves `--strategies` None when not given (`run` tells
    apart an external run given strategies); otherwise the guide's four."""
    from bench.run_config import DEFAULT_RATE, SCENARIOS, RunConfig
    from services.strategies import GUIDE_STRATEGIES

    defaults = RunConfig()
    parser.add_argument(
        "--strategies", type=strategy_list, default=strategies_default,
        help=f"comma-separated, or all (default: the guide's {','.join(GUIDE_STRATEGIES)})",
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
        "--arrivals", default=defaults.arrivals,
        help="closed: a user sends once answered (Locust's way); open: Poisson arrivals at"
             " --rate, sent on time whatever the answers do, latency also from the intended"
             " start (default closed)",
    )  # fmt: skip
    parser.add_argument(
        "--request-timeout-s", type=float, default=defaults.request_timeout_s, metavar="S",
        help=f"a request's deadline, from its send to its answer's last byte; past it, it is"
             f" given up and recorded as a timeout (default {defaults.request_timeout_s:g})",
    )  # fmt: skip
    parser.add_argument(
        "--origin-delay-ms", type=float, default=None,
        help="added to every origin query (default: 0, or 20 for race)",
    )  # fmt: skip
    parser.add_argument(
        "--origin", default=None, metavar="sqlite|postgres",
        help="the origin: embedded SQLite, or the suite's own PostgreSQL primary (local"
             " runtime; default sqlite, postgres for replica_lag; compose: always postgres)",
    )  # fmt: skip
    parser.add_argument(
        "--origin-lag-ms", type=float, default=None, metavar="MS",
        help="with --origin postgres (or --runtime compose): reads go to a streaming replica"
             " MS behind the primary (default: none, 200 for replica_lag)",
    )  # fmt: skip
    parser.add_argument(
        "--link-delay", type=link_delay, default=(), metavar="redis=MS[~JITTER][,origin=MS[~J]]",
        help="local runtime: every replica reaches Redis (and/or a PostgreSQL origin) through"
             " the suite's proxy, which holds each answer MS ms plus a uniform jitter up to"
             " JITTER, so a round trip gains about MS (docs/faults.md)",
    )  # fmt: skip
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--categories", type=int, default=defaults.categories)
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seeds the key choice")
    parser.add_argument(
        "--locust-workers", type=int, default=0,
        help="0: one Locust process; K: a master and K workers",
    )  # fmt: skip
    parser.add_argument(
        "--locust-master", default=None, metavar="HOST:PORT",
        help="local or external runtime: the master listens here for --locust-workers K"
             " workers started on other machines (docs/runtimes.md); none are started here",
    )  # fmt: skip
    parser.add_argument(
        "--poll-ms", type=float, default=defaults.poll_ms,
        help="the probe's poll interval (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--results", type=Path, default=defaults.results,
        help="where run folders go (default: results/)",
    )  # fmt: skip
    parser.add_argument(
        "--fault", type=fault, action="append", default=[], metavar="KIND@AT[+FOR][:ARG]",
        help=f"a fault during each strategy's load, AT (+FOR) seconds from its start;"
             f" repeatable; kinds: {', '.join(KINDS)} (docs/faults.md)",
    )  # fmt: skip
    add_percentiles_option(parser, defaults.percentiles)
    add_strategy_options(parser)


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    from bench.run_config import RUNTIMES

    parser.add_argument("--runtime", default="local", help=f"one of {', '.join(RUNTIMES)}")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --runtime compose: print every docker command, in order, and run nothing",
    )


def usable_results(results: Path) -> None:
    """--results must be a folder this user can create run folders in; exit 2 if not."""
    try:
        results.mkdir(parents=True, exist_ok=True)
        if not os.access(results, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise UsageError(f"--results {results}: no folder can be made there"
                         f" ({exc.strerror or exc})") from None  # fmt: skip


def checked_runtime(name: str, config: RunConfig | None = None) -> Runtime:
    """The runtime, having checked it can run here (this run, if given); else exit 2
    before anything exists."""
    from bench.runtime import runtime_for
    from bench.runtime.base import RuntimeUnavailable

    runtime = runtime_for(name)
    try:
        runtime.check(config)
    except RuntimeUnavailable as exc:
        raise UsageError(str(exc)) from None
    return runtime
