"""`bench check RUN`: exit 0 when a run holds its budget (and baseline), 1 when it does not,
2 on bad input; one line per strategy and threshold (`bench.check`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.cli.budget import add_budget_options, budget_from
from bench.cli.options import UsageError


def sweep_folder(folder: Path) -> bool:
    """A sweep has a row per cell, not a summary.json per strategy."""
    from bench.manifest import is_sweep, read_manifest

    try:
        return is_sweep(read_manifest(folder))
    except (OSError, ValueError):
        return False


def read_rows(folder: Path, strategy: str | None, flag: str = "RUN") -> list[dict[str, Any]]:
    """The strategies of a run folder's summary.json as rows; `strategy` only, if given."""
    from bench.report.summary_json import SummaryUnreadable, read_summary_json, rows_of

    if not folder.is_dir():
        raise UsageError(f"{flag} {folder}: no such folder")
    if sweep_folder(folder):
        raise UsageError(f"{flag} {folder} is a sweep: check a run, or one of its cells"
                         f" ({folder}/cells/<cell>)")  # fmt: skip
    try:
        rows = rows_of(read_summary_json(folder))
    except SummaryUnreadable as exc:
        raise UsageError(str(exc)) from None
    if strategy is None:
        return rows
    chosen = [row for row in rows if row["strategy"] == strategy]
    if not chosen:
        names = ", ".join(row["strategy"] for row in rows) or "none"
        raise UsageError(f"--strategy {strategy}: not in {folder} (it has {names})")
    return chosen


def cmd_check(args: argparse.Namespace) -> int:
    from bench.check import baseline_lines, budget_lines

    budget = budget_from(args)
    if budget is None and args.baseline is None:
        raise UsageError("give a budget (--max-stale-ms, --min-hit-ratio, ...) or --baseline RUN")
    if not 0 <= args.tolerance < float("inf"):
        raise UsageError(f"--tolerance is a fraction of the baseline's value, got {args.tolerance}")
    rows = read_rows(args.run, args.strategy)
    lines = budget_lines(rows, budget) if budget else []
    if args.baseline is not None:
        base = read_rows(args.baseline, None, "--baseline")
        shared = {row["strategy"] for row in base} & {row["strategy"] for row in rows}
        if not shared:
            raise UsageError(f"--baseline {args.baseline}: no strategy in common with {args.run}")
        lines += baseline_lines(rows, base, args.tolerance)
    for line in lines:
        print(line)
    broken = sum(not line.holds for line in lines)
    print(f"{len(lines) - broken} of {len(lines)} hold" + (f"; {broken} BREAK" if broken else ""))
    return 1 if broken else 0


def add_check_command(commands: Any) -> None:
    from bench.check import DEFAULT_TOLERANCE

    check = commands.add_parser(
        "check", help="hold a run to a budget and a baseline: exit 0 holds, 1 breaks, 2 bad input"
    )
    check.add_argument("run", type=Path, help="a run folder with summary.json")
    check.add_argument("--strategy", default=None, help="check this strategy only")
    check.add_argument(
        "--baseline", type=Path, default=None, metavar="RUN2",
        help="fail where a figure is worse than this run's by more than the noise",
    )  # fmt: skip
    check.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE,
        help=f"with --baseline, where either run has one repeat: how much worse, as a fraction"
             f" of the baseline's value, still holds (default {DEFAULT_TOLERANCE:g})",
    )  # fmt: skip
    add_budget_options(check)
    check.set_defaults(handler=cmd_check)
