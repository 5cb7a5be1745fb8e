"""A sweep's figures over its repeats: mean, 95% confidence interval, and which ranks hold.

Every repeat of a cell runs the same workload with the same seed, so the spread between
repeats is the run-to-run noise of the system (scheduling, timers, the machine), not of
the key choice. The interval is Student's t on the repeats' values: with 3 repeats its
half-width is 2.5 standard deviations, so it takes repeats to tell close strategies apart.

A pure function of the sweep's summary table, like the rest of analysis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.analysis.columns import COLUMNS, shown_in

CELL_COLUMNS: tuple[str, ...] = ("strategy", "ttl_s", "replicas")
# figure -> True when higher is better: the figures a sweep compares (the catalogue's)
FIGURES: dict[str, bool] = {name: COLUMNS[name].better == "higher" for name in shown_in("sweep")}
# Student's t, 0.975 quantile, for 1..30 degrees of freedom.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
         2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074,
         2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip
Z_975 = 1.959964


def t_975(df: int) -> float:
    """The two-sided 95% quantile of Student's t with `df` degrees of freedom (df >= 1)."""
    if df <= len(T_975):
        return T_975[df - 1]
    # Cornish-Fisher expansion around the normal quantile: within 1e-4 beyond 30 df.
    z = Z_975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def zero_when_none_stale(summary: pd.DataFrame) -> pd.DataFrame:
    """Stale ages of 0 ms, not NaN, for a cell that had reads and none of them stale.

    The summary leaves a stale-age quantile empty when no read was stale; for comparing
    cells that is the best possible age, so a mean or a budget can count it as 0.
    """
    none_stale = (summary["stale_reads"] == 0) & (summary["reads"] > 0)
    ages = [c for c in summary.columns if c.startswith("stale_age_")]
    ages += [c for c in ("read_staleness_p99_ms",) if c in summary.columns]
    summary = summary.copy()
    summary.loc[none_stale, ages] = 0.0
    return summary


def interval(values: pd.Series) -> tuple[float, float]:
    """(mean, 95% half-width) of a figure over repeats; half-width NaN below two values.

    An infinite value (a censored probe tail) makes the mean infinite and the width NaN.
    """
    values = values.dropna().astype(float)
    if values.empty:
        return math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2 or not np.isfinite(values).all():
        return mean, math.nan
    return mean, t_975(len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))


def aggregate(summary: pd.DataFrame, figures: Sequence[str] = tuple(FIGURES)) -> pd.DataFrame:
    """One row per (strategy, ttl_s, replicas), in the summary's order.

    Columns: the cell columns, `repeats` (rows), `stale_reads` (sum), and per figure `f`
    (mean over repeats), `f_ci` (95% half-width, NaN with one repeat), `f_min`, `f_max`.
    Units are the figure's own (ms, ratio 0..1, requests/s). Stale ages count 0 ms where
    no read was stale (see `zero_when_none_stale`).
    """
    summary = zero_when_none_stale(summary)
    # a figure newer than the summary (a sweep measured before it existed) is missing
    summary = summary.assign(**{f: np.nan for f in figures if f not in summary.columns})
    rows = []
    for key, group in summary.groupby(list(CELL_COLUMNS), sort=False, dropna=False):
        row = dict(zip(CELL_COLUMNS, key, strict=True))
        row["repeats"] = len(group)
        row["stale_reads"] = group["stale_reads"].sum()
        for figure in figures:
            row[figure], row[f"{figure}_ci"] = interval(group[figure])
            row[f"{figure}_min"], row[f"{figure}_max"] = group[figure].min(), group[figure].max()
        rows.append(row)
    return pd.DataFrame(rows)


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two (mean, half-width) intervals share a point."""
    return abs(a[0] - b[0]) <= a[1] + b[1]


def unsupported(cells: pd.DataFrame, figure: str) -> pd.Series:
    """True for a strategy whose rank against the best one the intervals do not support.

    Within each (ttl_s, replicas), the best strategy is the one with the best mean; a
    strategy whose interval overlaps the best one's is marked, and so is the best itself
    when any other is. Overlap is the cautious test: intervals may overlap while a paired
    test would still tell the two apart, so a mark means "not shown", never "equal".
    Without intervals (one repeat) nothing is marked: there is nothing to judge by.
    """
    marks = pd.Series(False, index=cells.index)
    higher = FIGURES.get(figure, True)
    for _, group in cells.groupby(["ttl_s", "replicas"], sort=False):
        group = group[np.isfinite(group[figure]) & np.isfinite(group[f"{figure}_ci"])]
        if len(group) < 2:
            continue
        best = group[figure].idxmax() if higher else group[figure].idxmin()
        best_interval = (group.at[best, figure], group.at[best, f"{figure}_ci"])
        for index, row in group.drop(index=best).iterrows():
            if overlaps((row[figure], row[f"{figure}_ci"]), best_interval):
                marks[index] = marks[best] = True
    return marks
