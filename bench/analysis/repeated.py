"""A run with repeats: each strategy measured N times, the figures as means with intervals.

`bench run --repeats N` runs its strategies N times, interleaved (A B C A B C), each on a
fresh deployment: it is a sweep of one TTL and one replica count (`bench.sweep`), whose
cells are ordinary single-strategy runs. Its folder keeps the cells' rows stacked in
`repeats.csv` (one row per strategy and repeat, `bench.analysis.sweep_summary`), and its
`summary.csv` holds one row per strategy: every catalogued figure as the mean over the
repeats, `<figure>_ci` its 95% half-width (Student's t, `bench.analysis.repeats`),
`repeats` how many there were. So whatever reads a summary.csv reads a repeated run's
means where a plain run has its values, and the intervals stand beside them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.analysis.columns import CATALOGUE
from bench.analysis.repeats import aggregate
from bench.analysis.sweep_summary import sweep_summary

TEXT = ("strategy", "scenario")
FIGURES: tuple[str, ...] = tuple(c.name for c in CATALOGUE if c.name not in TEXT)
# kept as they are (the same in every repeat), not given intervals
SETTINGS = ("replicas", "ttl_s")


def repeated_summary(repeats: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy, in the repeats' order: the catalogue's columns as means, then
    `repeats` and each figure's `_ci` (NaN with one repeat)."""
    columns = [c.name for c in CATALOGUE]
    if repeats.empty:
        return pd.DataFrame(columns=[*columns, "repeats"])
    figures = [f for f in FIGURES if f not in SETTINGS]
    cells = aggregate(repeats.drop(columns=["cell"], errors="ignore"), figures)
    scenario = repeats.groupby("strategy", sort=False)["scenario"].first()
    cells["scenario"] = cells["strategy"].map(scenario)
    intervals = [f"{f}_ci" for f in figures]
    return cells.reindex(columns=[*columns, "repeats", *intervals])


def repeats_table(folder: Path) -> pd.DataFrame:
    """The complete repeats' summary rows, one per strategy and repeat, in run order."""
    return sweep_summary(folder)
