"""The report's notes on library strategies: for each strategy whose caching a library
does, what the library is and at which version the run used, its behaviour card's one-line
verdict, and the figure where it differs most from the closest strategy of ours when that
one ran beside it.

The version comes from run.json's `packages` (what was installed when the run started),
the verdict from `VERDICTS` (each a summary of the card's measured rows in
docs/libraries.md, changed with it), the figures from summary.csv.
"""

from __future__ import annotations

from typing import Any

from bench.analysis.columns import COLUMNS, heading, shown_in
from bench.report.numbers import fmt_figure, missing
from services.strategies import STRATEGIES

Row = dict[str, Any]
CARDS = "docs/libraries.md"

# The card's verdict per library strategy: what its runs showed, in one line.
VERDICTS: dict[str, str] = {}


def library_notes(manifest: dict[str, Any], rows: list[Row]) -> list[str]:
    """One note per library strategy in the run, in run order; none without one."""
    by_name = {r["strategy"]: r for r in rows}
    packages = manifest.get("packages", {})
    notes = []
    for row in rows:
        spec = STRATEGIES.get(row["strategy"])
        if spec is None or not spec.library:
            continue
        version = packages.get(spec.library) or "version not recorded"
        verdict = VERDICTS.get(spec.name, f"see its behaviour card in {CARDS}")
        note = f"{spec.name} is {spec.library} {version}'s caching: {verdict}"
        closest = by_name.get(spec.closest)
        if closest is not None:
            note += " " + widest_gap(row, closest)
        elif spec.closest:
            note += f" Run it beside {spec.closest}, ours that does the same job, to compare."
        notes.append(note)
    return notes


def widest_gap(row: Row, ours: Row) -> str:
    """The sentence naming the compared figure on which `row` and `ours` differ most, by
    the share of the larger of the two."""
    best: tuple[float, str] | None = None
    for column in shown_in("compare"):
        if COLUMNS[column].better is None:
            continue
        a, b = row.get(column), ours.get(column)
        if missing(a) or missing(b) or max(abs(a), abs(b)) == 0:
            continue
        gap = abs(a - b) / max(abs(a), abs(b))
        if best is None or gap > best[0]:
            best = (gap, column)
    if best is None or best[0] == 0:
        return f"Beside {ours['strategy']}, ours closest, no compared figure differs."
    column = best[1]
    return (f"Its widest gap from {ours['strategy']}, ours closest: {heading(column)}"
            f" {fmt_figure(column, row[column])} against"
            f" {fmt_figure(column, ours[column])}.")  # fmt: skip
