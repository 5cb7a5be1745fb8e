"""The budget's flags, one vocabulary for `tune`, `sweep`, `run`, `report` and `check`:
one flag per limit of `bench.analysis.budget.LIMITS`, declared there once."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bench.cli.options import UsageError

if TYPE_CHECKING:  # at run time imported where used: `--help` need not load pandas
    from bench.analysis.budget import Budget


def add_budget_options(parser: argparse.ArgumentParser, stale_required: bool = False) -> None:
    """`--max-stale-ms`, `--min-hit-ratio`, ... each with its limit's help."""
    from bench.analysis.budget import LIMITS

    group = parser.add_argument_group("budget (docs/ci.md)")
    for limit in LIMITS:
        required = stale_required and limit.option == "max_stale_ms"
        group.add_argument(limit.flag, type=float, default=None, required=required,
                           dest=limit.option, help=limit.help)  # fmt: skip


def budget_from(args: argparse.Namespace, needs_stale: bool = False) -> Budget | None:
    """The budget the flags give, or None without any; exit 2 on a value out of range.

    `needs_stale`: the tuner chooses TTLs by staleness, so its other limits need
    `--max-stale-ms` beside them."""
    from bench.analysis.budget import LIMITS, Budget, BudgetError

    given = {limit.option: getattr(args, limit.option, None) for limit in LIMITS}
    given = {option: value for option, value in given.items() if value is not None}
    if needs_stale and given and "max_stale_ms" not in given:
        flag = "--" + next(iter(given)).replace("_", "-")
        raise UsageError(f"{flag} needs --max-stale-ms")
    try:
        return Budget(**given) if given else None
    except BudgetError as exc:
        raise UsageError(str(exc)) from None
