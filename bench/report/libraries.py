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
VERDICTS: dict[str, str] = {
    "fastapi-cache2": (
        "no invalidation on write: as stale as `ttl` (67.6% of reads under update_heavy, "
        "up to the TTL old) and a herd like `delete`'s at expiry; Redis errors fall back "
        "to the origin."
    ),
    "fastapi-cache2-clear": (
        "as fresh as `delete`, because every write's `clear(key=...)` empties the whole "
        "cache under the README's prefix (hit ratio 15.4% against `delete`'s 85.5% under "
        "read_mostly); a write whose clear fails has committed and answers 500."
    ),
    "cashews": (
        "fresh on write through its tags and a herd of one per replica, but a write "
        "racing a fill can leave the key outside its tag, stale until the TTL (23.4% "
        "stale under race, the oldest 17.3 s, against `delete`'s 12.6% and 273 ms)."
    ),
    "cashews-lock": (
        "a herd of one across replicas, but no lease: the race stays (12.9% stale under "
        "race), every read pays the lock (read p50 8.0 ms against `delete`'s 1.7 ms) and "
        "read_mostly saw 3.6% stale reads up to 15.7 s old."
    ),
    "cashews-early": (
        "recomputes before expiry, so reads after an expiry stay fast (p99 6.7 ms against "
        "`xfetch`'s 53 ms under stampede), at a read p99 of 116 ms under read_mostly."
    ),
    "cashews-csc": (
        "a local tier that Redis tracking keeps fresh on RESP2 (70% local hits, no stale "
        "read under read_mostly); on redis-py 8's default RESP3 it hears no invalidation "
        "at all; a Redis pause left 15 stale reads up to 5.1 s old."
    ),
    "aiocache-lease": (
        "its lease holds a herd only within one process (3 / 5 across 2 replicas against "
        "`lease`'s 1 / 2), has no token against the race (12.9% stale under race) and "
        "does not fail open: a Redis kill answered 595 of 600 reads with errors."
    ),
}


def library_notes(manifest: dict[str, Any], rows: list[Row]) -> list[str]:
    """One note per library strategy in the run, in run order; none without one."""
    by_name = {r["strategy"]: r for r in rows}
    packages = manifest.get("packages", {})
    notes = []
    for row in rows:
        spec = STRATEGIES.get(row["strategy"])
        if spec is None or not spec.library:
            continue
        version = packages.get(spec.library)
        library = (
            f"{spec.library} {version}" if version else f"{spec.library} (version not recorded)"
        )
        verdict = VERDICTS.get(spec.name, f"see its behaviour card in {CARDS}.")
        note = f"{spec.name} is {library}'s caching: {verdict}"
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
