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

A pure function of the table: `bench tune DIR` reads the folder's summary.csv, never a
live system, and works on a plain run folder too (one TTL per strategy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.analysis.numbers import (
    fmt_interval,
    fmt_ms,
    fmt_number,
    fmt_pct,
    missing,
    n_replicas,
)
from bench.analysis.repeats import aggregate
from bench.analysis.tables import read_table
from bench.layout import RunFolder

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

    def describe(self) -> str:
        hits = (
            f" and hit ratio at least {fmt_pct(self.min_hit_ratio)}" if self.min_hit_ratio else ""
        )
        origin = (
            f" and at most {self.max_origin_rps:g} origin reads/s" if self.max_origin_rps else ""
        )
        return f"staleness p99 within {self.max_stale_ms:g} ms{hits}{origin}"


@dataclass(frozen=True)
class Choice:
    """One strategy's verdict at one replica count.

    `ttl_s` is the largest TTL (s) within the budget, None when no TTL is; the figures are
    that cell's (means over `repeats`; `staleness_p99_ms` the worst repeat, 0 when no
    read was stale), NaN when there is no choice. `note` says what bounds the choice.
    """

    strategy: str
    replicas: int
    ttl_s: float | None
    repeats: int
    note: str
    hit_ratio: float = math.nan
    hit_ratio_ci: float = math.nan
    read_p99_ms: float = math.nan
    staleness_p99_ms: float = math.nan
    stale_reads: int = 0


@dataclass(frozen=True)
class Tuning:
    budget: Budget
    choices: list[Choice]
    recommendations: list[str]  # one line per replica count


def tune(summary: pd.DataFrame, budget: Budget) -> Tuning:
    """Choose per strategy and replica count, then recommend one per replica count."""
    if summary.empty:
        return Tuning(budget, [], ["no recommendation: the summary has no measured cell"])
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
    counts = list(dict.fromkeys(c.replicas for c in choices))
    recommendations = [
        recommend([c for c in choices if c.replicas == n], budget, n, len(counts) > 1)
        for n in counts
    ]
    return Tuning(budget, choices, recommendations)


def choose(cells: pd.DataFrame, budget: Budget) -> Choice:
    """The largest TTL of one strategy's cells (one replica count) that meets the budget."""
    first = cells.iloc[0]
    strategy, replicas, repeats = first["strategy"], int(first["replicas"]), int(first["repeats"])
    ok = cells[cells["meets"]]
    if ok.empty:
        return Choice(strategy, replicas, None, repeats, why_none(cells, budget))
    best = ok.loc[ok["ttl_s"].idxmax()]
    larger = cells[cells["ttl_s"] > best["ttl_s"]].sort_values("ttl_s")
    if larger.empty:
        note = "the largest TTL measured: a longer one may meet the budget too"
    else:
        nxt = larger.iloc[0]
        note = f"at TTL {nxt['ttl_s']:g} s: {miss_reason(nxt, budget)}"
    shorter = cells[(cells["ttl_s"] < best["ttl_s"]) & ~cells["meets"]]
    if not shorter.empty:  # staleness is not monotonic in TTL here: rare events, or noise
        miss = shorter.iloc[0]
        note += (f"; yet TTL {miss['ttl_s']:g} s missed it ({miss_reason(miss, budget)}):"
                 " rare events, which repeats would show")  # fmt: skip
    return Choice(
        strategy, replicas, float(best["ttl_s"]), repeats, note,
        hit_ratio=best["hit_ratio"], hit_ratio_ci=best["hit_ratio_ci"],
        read_p99_ms=best["read_p99_ms"], staleness_p99_ms=best["read_staleness_p99_ms_max"],
        stale_reads=int(best["stale_reads"]),
    )  # fmt: skip


def miss_reason(cell: pd.Series, budget: Budget) -> str:
    """Why one cell misses the budget, in its own figures."""
    worst = " (worst repeat)" if cell["repeats"] > 1 else ""
    if missing(cell["read_staleness_p99_ms_max"]):
        return "no reads measured"
    if cell["read_staleness_p99_ms_max"] > budget.max_stale_ms:
        return f"staleness p99 {fmt_ms(cell['read_staleness_p99_ms_max'])} ms{worst}"
    if budget.min_hit_ratio is not None and cell["hit_ratio_min"] < budget.min_hit_ratio:
        return f"hit ratio {fmt_pct(cell['hit_ratio_min'])}{worst}"
    return origin_reason(cell["origin_rps_mean_max"]) + worst


def origin_reason(rps: float) -> str:
    return "origin reads not measured" if missing(rps) else f"{fmt_number(rps)} origin reads/s"


def why_none(cells: pd.DataFrame, budget: Budget) -> str:
    """No TTL of this strategy meets the budget: the nearest miss, in figures."""
    stale_ok = cells[cells["read_staleness_p99_ms_max"] <= budget.max_stale_ms]
    if cells["read_staleness_p99_ms_max"].isna().all():
        return "no reads measured"
    if stale_ok.empty:
        nearest = cells.loc[cells["read_staleness_p99_ms_max"].idxmin()]
        lowest = fmt_ms(nearest["read_staleness_p99_ms_max"])
        return f"no TTL meets it: staleness p99 {lowest} ms at best (TTL {nearest['ttl_s']:g} s)"
    if budget.min_hit_ratio is not None:
        hits_ok = stale_ok[stale_ok["hit_ratio_min"] >= budget.min_hit_ratio]
        if hits_ok.empty:
            nearest = stale_ok.loc[stale_ok["hit_ratio_min"].idxmax()]
            best_hits = fmt_pct(nearest["hit_ratio_min"])
            where = f"TTL {nearest['ttl_s']:g} s"
            return (f"no TTL meets it: within the stale budget, hit ratio {best_hits} at best"
                    f" ({where})")  # fmt: skip
        stale_ok = hits_ok
    rps = stale_ok["origin_rps_mean_max"]
    if rps.isna().all():
        return "no TTL meets it: origin reads not measured (a run older than the figure)"
    nearest = stale_ok.loc[rps.idxmin()]
    return (f"no TTL meets it: within the other budgets, {origin_reason(rps.min())} at best"
            f" (TTL {nearest['ttl_s']:g} s)")  # fmt: skip


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


def recommend(choices: list[Choice], budget: Budget, replicas: int, say_replicas: bool) -> str:
    """One line: the strategy and TTL recommended at this replica count, and why."""
    at = f" at {n_replicas(replicas)}" if say_replicas else ""
    order = ranked(choices)
    if not order:
        return (
            f"no recommendation{at}: no strategy measured keeps {budget.describe()} at any"
            " TTL measured; see each strategy's nearest miss above"
        )
    pick = order[0]
    figures = (
        f"hit ratio {fmt_pct(pick.hit_ratio)}, read p99 {fmt_ms(pick.read_p99_ms)} ms,"
        f" staleness p99: {stale_text(pick)}"
    )
    head = f"recommendation{at}: {pick.strategy} with TTL {pick.ttl_s:g} s ({figures})"
    if len(order) == 1:
        return f"{head}: the only strategy that keeps {budget.describe()}."
    second = order[1]
    if pick.hit_ratio - second.hit_ratio < HIT_TIE:
        return f"{head}: {tie_break(pick, second)}."
    why = (
        f"the highest hit ratio of the {len(order)} strategies that keep"
        f" {budget.describe()}; next is {second.strategy} at TTL {second.ttl_s:g} s with"
        f" {fmt_pct(second.hit_ratio)}"
    )
    if abs(pick.hit_ratio - second.hit_ratio) <= pick.hit_ratio_ci + second.hit_ratio_ci:
        why += (
            f", a lead that the 95% intervals over {pick.repeats} repeats do not support:"
            " treat the two as equal on hits"
        )
    return f"{head}: {why}."


def tie_break(pick: Choice, second: Choice) -> str:
    """Why `pick` beats `second` when their hit ratios tie: the first criterion that differs."""
    hits = f"{fmt_pct(pick.hit_ratio)} against {fmt_pct(second.hit_ratio)}"
    tie = f"it ties with {second.strategy} on hit ratio ({hits}: closer than {HIT_TIE * 100:g} pp)"
    if pick.read_p99_ms != second.read_p99_ms:
        ms = f"{fmt_ms(pick.read_p99_ms)} against {fmt_ms(second.read_p99_ms)} ms"
        return f"{tie} and has the lower read p99 ({ms})"
    if pick.staleness_p99_ms != second.staleness_p99_ms:
        ms = f"{stale_text(pick)} against {stale_text(second)}"
        return f"{tie} and read p99, and has the lower staleness p99 ({ms})"
    return f"{tie}, read p99 and staleness p99, and comes first in the sweep's order"


def stale_text(choice: Choice) -> str:
    """The staleness p99 of a choice, or `none stale` (as the report writes it)."""
    return "none stale" if choice.stale_reads == 0 else f"{fmt_ms(choice.staleness_p99_ms)} ms"


def tuning_table(tuning: Tuning) -> dict[str, list]:
    """The verdicts as a table (columns, rows of text), for the report and the terminal."""
    worst = " (worst repeat)" if any(c.repeats > 1 for c in tuning.choices) else ""
    columns = [
        "strategy",
        "replicas",
        "largest TTL within budget",
        "hit ratio",
        "read p99 ms",
        f"staleness p99{worst}",
        "note",
    ]
    rows = []
    for c in tuning.choices:
        if c.ttl_s is None:
            rows.append([c.strategy, str(c.replicas), "none", "-", "-", "-", c.note])
            continue
        rows.append(
            [
                c.strategy,
                str(c.replicas),
                f"{c.ttl_s:g} s",
                fmt_interval("hit_ratio", c.hit_ratio, c.hit_ratio_ci),
                fmt_ms(c.read_p99_ms),
                stale_text(c),
                c.note,
            ]
        )
    return {"columns": columns, "rows": rows}


def format_tuning(tuning: Tuning) -> str:
    """The tuner's verdict for a terminal: the budget, an aligned table, the recommendation."""
    table = tuning_table(tuning)
    lines = [table["columns"], *table["rows"]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(table["columns"]) - 1)]
    text = ["  ".join([*map(str.ljust, line[:-1], widths), line[-1]]) for line in lines]
    budget = (
        f"budget: {tuning.budget.describe()} (over all reads, a fresh read counting 0 ms;"
        " with repeats, every repeat must meet it)"
    )
    return "\n".join([budget, *text, *tuning.recommendations])


def tune_folder(folder: Path, budget: Budget) -> str:
    """`bench tune DIR`: the verdict on a folder's summary.csv (a sweep's or a run's)."""
    return format_tuning(tune(read_table(RunFolder(folder).summary), budget))
