"""The tuner: from a summary table and a staleness budget to a TTL per strategy and one pick.

For each strategy (and replica count) it takes the largest TTL whose staleness p99 stays
within the budget: a longer TTL keeps entries longer, so it gives the most hits that the
budget allows. Then it recommends, among those, the strategy with the highest hit ratio.

The budget is on `read_staleness_p99_ms`, the 99th percentile over ALL reads with a fresh
read counting 0 ms ("99% of reads were at most this stale"), not on the stale age p99,
which is taken over stale reads only: with delete-on-write a 20 s cell sees a handful of
read/write races or none, and that handful alone decided the verdict, which then changed
from run to run. The stale-read ratio and stale ages stay in the table and the report.

Rules, so that a verdict can be checked by hand on a literal table:
- a cell with reads and no stale read meets any budget (nothing was out of date);
- with repeats, a cell meets the budget only if every repeat does (worst repeat decides),
  while the figures shown are the means over repeats;
- `--min-hit-ratio` also has to hold in every repeat, and so has `--max-origin-rps` (the
  mean origin reads per second: the database's load is often the budget that binds);
- hit ratios closer than `HIT_TIE` are a tie (they read the same in the report); a tie goes
  to the lower read p99, then the lower staleness p99, then the sweep's strategy order.

A pure function of the table, returning figures; `bench.report.tuning` says them in words
(the notes, the recommendation) and `bench tune DIR` reads a folder's summary.csv, never a
live system, and works on a plain run folder too (one TTL per strategy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from bench.analysis.repeats import aggregate

HIT_TIE = 0.0005  # 0.05 percentage points: below the report's precision of 0.1%
TUNED = ("hit_ratio", "read_p99_ms", "read_staleness_p99_ms", "origin_rps_mean")


class BudgetError(ValueError):
    """A budget out of range; the message is one line naming the option."""


@dataclass(frozen=True)
class Budget:
    """Stale age p99 at most `max_stale_ms` (ms); hit ratio at least `min_hit_ratio` (0..1);
    origin reads at most `max_origin_rps` per second (mean over the run)."""

    max_stale_ms: float
    min_hit_ratio: float | None = None
    max_origin_rps: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.max_stale_ms < math.inf:
            raise BudgetError(f"--max-stale-ms must be a positive number, got {self.max_stale_ms}")
        if self.min_hit_ratio is not None and not 0 <= self.min_hit_ratio <= 1:
            raise BudgetError(f"--min-hit-ratio is a ratio in 0..1, got {self.min_hit_ratio}")
        if self.max_origin_rps is not None and not 0 < self.max_origin_rps < math.inf:
            raise BudgetError(
                f"--max-origin-rps must be a positive number, got {self.max_origin_rps}"
            )


@dataclass(frozen=True)
class Choice:
    """One strategy's verdict at one replica count.

    `ttl_s` is the largest TTL (s) within the budget, None when no TTL is; the figures are
    that cell's (means over `repeats`; `staleness_p99_ms` the worst repeat, 0 when no
    read was stale), NaN when there is no choice. `cells` are the strategy's cells at this
    replica count (aggregated over repeats, with `meets`), from which the report says
    what bounds the choice (`bench.report.tuning.choice_note`).
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
    stale_reads: int = 0


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
    if summary.empty:
        return Tuning(budget, [])
    if "repeat" not in summary.columns:
        summary = summary.assign(repeat=0)
    cells = aggregate(summary, TUNED)
    cells["meets"] = cells["read_staleness_p99_ms_max"] <= budget.max_stale_ms  # NaN: no reads
    if budget.min_hit_ratio is not None:
        cells["meets"] &= cells["hit_ratio_min"] >= budget.min_hit_ratio
    if budget.max_origin_rps is not None:  # NaN (not measured) never meets it
        cells["meets"] &= cells["origin_rps_mean_max"] <= budget.max_origin_rps
    choices = [
        choose(group, budget) for _, group in cells.groupby(["strategy", "replicas"], sort=False)
    ]
    return Tuning(budget, choices)


def choose(cells: pd.DataFrame, budget: Budget) -> Choice:
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
        read_p99_ms=best["read_p99_ms"], staleness_p99_ms=best["read_staleness_p99_ms_max"],
        stale_reads=int(best["stale_reads"]),
    )  # fmt: skip


def ranked(choices: list[Choice]) -> list[Choice]:
    """Viable choices best first: hit ratio (ties within HIT_TIE), read p99, stale p99, order."""
    rest = [c for c in choices if c.ttl_s is not None]
    order = []
    while rest:
        top = max(c.hit_ratio for c in rest)
        tied = [c for c in rest if top - c.hit_ratio < HIT_TIE]
        pick = min(tied, key=lambda c: (c.read_p99_ms, c.staleness_p99_ms, rest.index(c)))
        order.append(pick)
        rest.remove(pick)
    return order
