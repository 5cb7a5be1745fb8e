"""The tuner: from a summary table and a budget to a TTL per strategy and one pick.

For each strategy (and replica count) it takes the largest TTL whose cell holds the budget:
a longer TTL keeps entries longer, so it gives the most hits that the budget allows. Then it
recommends, among those, one strategy by the pick rule of `bench.analysis.budget` (the best
hit ratio, ties broken by the lower origin load, then the lower read p99), the rule the run
report's decision section and `bench check` use too.

The budget's staleness limit is on `read_staleness_p99_ms`, the 99th percentile over ALL
reads with a fresh read counting 0 ms ("99% of reads were at most this stale"), not on the
stale age p99, which is taken over stale reads only: with delete-on-write a 20 s cell sees a
handful of read/write races or none, and that handful alone decided the verdict, which then
changed from run to run. The stale-read ratio and stale ages stay in the table and the report.

Rules, so that a verdict can be checked by hand on a literal table:
- a cell with reads and no stale read meets any staleness limit (nothing was out of date);
- with repeats, a cell's figure is judged at the unfavourable end of its 95% interval (the
  upper end for a `max_` limit), while the figures shown are the means over repeats;
- hit ratios closer than `HIT_TIE` are a tie (they read the same in the report); a tie goes
  to the lower origin reads/s, then the lower read p99, then the sweep's strategy order.

A pure function of the table, returning figures; `bench.report.tuning` says them in words
(the notes, the recommendation) and `bench tune DIR` reads a folder's summary.csv, never a
live system, and works on a plain run folder too (one TTL per strategy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from bench.analysis.budget import HIT_TIE, Budget, BudgetError, judge
from bench.analysis.budget import ranked as pick_order
from bench.analysis.repeats import aggregate

__all__ = ["HIT_TIE", "Budget", "BudgetError", "Choice", "Tuning", "ranked", "tune"]
TUNED = ("hit_ratio", "read_p99_ms", "read_staleness_p99_ms", "origin_rps_mean")


@dataclass(frozen=True)
class Choice:
    """One strategy's verdict at one replica count.

    `ttl_s` is the largest TTL (s) within the budget, None when no TTL is; the figures are
    that cell's means over `repeats` (`staleness_p99_ms` as judged: the upper end of its
    interval with repeats, 0 when no read was stale), NaN when there is no choice. `cells`
    are the strategy's cells at this replica count (aggregated over repeats, with `meets`
    and each limited figure as judged, `<figure>_judged`), from which the report says what
    bounds the choice (`bench.report.tuning.choice_note`).
    """

    strategy: str
    replicas: int
    ttl_s: float | None
    repeats: int
    cells: pd.DataFrame = field(compare=False, repr=False)
    hit_ratio: float = math.nan
    hit_ratio_ci: float = math.nan
    read_p99_ms: float = math.nan
    staleness_p99_ms: float = math.nan
    origin_rps_mean: float = math.nan
    stale_reads: int = 0

    def figures(self) -> dict[str, float]:
        """The figures the pick rule ranks by, as `bench.analysis.budget.ranked` reads them."""
        return {
            "hit_ratio": self.hit_ratio,
            "hit_ratio_ci": self.hit_ratio_ci,
            "origin_rps_mean": self.origin_rps_mean,
            "read_p99_ms": self.read_p99_ms,
        }


@dataclass(frozen=True)
class Tuning:
    budget: Budget
    choices: list[Choice]

    @property
    def replica_counts(self) -> list[int]:
        """The replica counts measured, in the sweep's order: one recommendation each."""
        return list(dict.fromkeys(c.replicas for c in self.choices))


def tune(summary: pd.DataFrame, budget: Budget) -> Tuning:
    """Choose per strategy and replica count, then recommend one per replica count."""
    if budget.max_stale_ms is None:
        raise BudgetError("--max-stale-ms: the tuner needs a staleness budget")
    if summary.empty:
        return Tuning(budget, [])
    if "repeat" not in summary.columns:
        summary = summary.assign(repeat=0)
    figures = tuple(dict.fromkeys([*TUNED, *(limit.figure for limit, _ in budget.limits())]))
    cells = aggregate(summary, figures)
    verdicts = [judge(row, budget) for row in cells.to_dict("records")]
    cells["meets"] = [all(v.holds for v in row) for row in verdicts]
    for index, limit in enumerate(limit for limit, _ in budget.limits()):
        cells[f"{limit.figure}_judged"] = [row[index].value for row in verdicts]
    choices = [choose(group) for _, group in cells.groupby(["strategy", "replicas"], sort=False)]
    return Tuning(budget, choices)


def choose(cells: pd.DataFrame) -> Choice:
    """The largest TTL of one strategy's cells (one replica count) that meets the budget."""
    first = cells.iloc[0]
    strategy, replicas, repeats = first["strategy"], int(first["replicas"]), int(first["repeats"])
    ok = cells[cells["meets"]]
    if ok.empty:
        return Choice(strategy, replicas, None, repeats, cells)
    best = ok.loc[ok["ttl_s"].idxmax()]
    return Choice(
        strategy, replicas, float(best["ttl_s"]), repeats, cells,
        hit_ratio=best["hit_ratio"], hit_ratio_ci=best["hit_ratio_ci"],
        read_p99_ms=best["read_p99_ms"], staleness_p99_ms=best["read_staleness_p99_ms_judged"],
        origin_rps_mean=best["origin_rps_mean"], stale_reads=int(best["stale_reads"]),
    )  # fmt: skip


def ranked(choices: list[Choice]) -> list[Choice]:
    """Viable choices best first, by the pick rule (`bench.analysis.budget.ranked`)."""
    viable = [c for c in choices if c.ttl_s is not None]
    return [viable[i] for i in pick_order([c.figures() for c in viable])]
