"""`bench check RUN`: a run's figures held to a budget and to a baseline, for a pipeline.

It reads summary.json only (never raw rows, never a live system), prints one line per
strategy and threshold (the figure, the limit, holds or BREAKS), and its exit code is the
verdict: 0 when every line holds, 1 when any breaks (the command line turns bad input
into 2).

Against a budget, a figure is judged as `bench.analysis.budget` judges it: with repeats at
the unfavourable end of its 95% interval. Against a baseline run, a figure breaks when it
is worse than the baseline's by more than the noise: with repeats in both runs, when the
two intervals do not overlap and the run is on the worse side; otherwise (either run has
one repeat, so there is no noise to measure) when it is worse by more than `tolerance` of
the baseline's value. The baseline compares the budget's figures (`LIMITS`), each in its
better direction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis.budget import LIMITS, Budget, Limit, figure, judge
from bench.report.budget import difference, say_figure, say_verdict

DEFAULT_TOLERANCE = 0.10
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Line:
    strategy: str
    text: str
    holds: bool

    def __str__(self) -> str:
        return f"{self.strategy}: {self.text}: {'holds' if self.holds else 'BREAKS'}"


def budget_lines(rows: Sequence[Row], budget: Budget) -> list[Line]:
    lines = []
    for row in rows:
        for verdict in judge(row, budget):
            limit = f"{verdict.limit.flag} {verdict.threshold:g}"  # as the flag was given
            lines.append(Line(row["strategy"], f"{say_verdict(verdict)} against {limit}",
                              verdict.holds))  # fmt: skip
    return lines


def worse_by(limit: Limit, value: float, base: float) -> float:
    """How much worse `value` is than `base` in the limit's direction (negative: better)."""
    return value - base if limit.bound == "max" else base - value


def baseline_line(row: Row, base: Row, limit: Limit, tolerance: float) -> Line | None:
    """One figure against the baseline's; None where either run did not measure it."""
    (mean, ci), (base_mean, base_ci) = figure(row, limit.figure), figure(base, limit.figure)
    if math.isnan(mean) or math.isnan(base_mean):
        return None
    worse = worse_by(limit, mean, base_mean)
    said = f"{say_figure(limit, mean)} against the baseline's {say_figure(limit, base_mean)}"
    if not (math.isnan(ci) or math.isnan(base_ci)):
        noise = ci + base_ci
        text = f"{said}; the 95% intervals allow {difference(limit, noise)} worse"
        return Line(row["strategy"], text, not worse > noise)
    allowed = tolerance * abs(base_mean)
    text = f"{said}; --tolerance {tolerance:g} allows {difference(limit, allowed)} worse"
    return Line(row["strategy"], text, not worse > allowed)


def baseline_lines(rows: Sequence[Row], baseline: Sequence[Row], tolerance: float) -> list[Line]:
    """The budget's figures of each strategy in both runs, against the baseline's."""
    bases = {row["strategy"]: row for row in baseline}
    lines = []
    for row in rows:
        base = bases.get(row["strategy"])
        if base is None:
            continue
        for limit in LIMITS:
            line = baseline_line(row, base, limit, tolerance)
            if line is not None:
                lines.append(line)
    return lines
