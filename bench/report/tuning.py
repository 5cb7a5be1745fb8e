"""The tuner's verdicts in words: what bounds each strategy's choice, the recommendation
per replica count, the table for the report and the terminal.

`bench.analysis.tune` chooses and ranks, in figures; this module only says them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.analysis.budget import Judgement, distinguishable, judge, tie_break
from bench.analysis.tables import read_table
from bench.analysis.tune import HIT_TIE, Budget, Choice, Tuning, ranked, tune
from bench.layout import RunFolder
from bench.report.budget import describe, say_figure, say_verdict
from bench.report.numbers import fmt_interval, fmt_ms, fmt_number, fmt_pct, n_replicas


def choice_note(choice: Choice, budget: Budget) -> str:
    """What bounds one strategy's choice: the next larger TTL's miss (or that the largest
    was measured), and a shorter TTL that missed where a longer one met the budget."""
    cells = choice.cells
    if choice.ttl_s is None:
        return why_none(cells, budget)
    larger = cells[cells["ttl_s"] > choice.ttl_s].sort_values("ttl_s")
    if larger.empty:
        note = "the largest TTL measured: a longer one may meet the budget too"
    else:
        nxt = larger.iloc[0]
        note = f"at TTL {nxt['ttl_s']:g} s: {miss_reason(nxt, budget)}"
    shorter = cells[(cells["ttl_s"] < choice.ttl_s) & ~cells["meets"]]
    if not shorter.empty:  # staleness is not monotonic in TTL here: rare events, or noise
        miss = shorter.iloc[0]
        note += (f"; yet TTL {miss['ttl_s']:g} s missed it ({miss_reason(miss, budget)}):"
                 " rare events, which repeats would show")  # fmt: skip
    return note


def recommendations(tuning: Tuning) -> list[str]:
    """One line per replica count: the strategy and TTL recommended there, and why."""
    counts = tuning.replica_counts
    if not counts:
        return ["no recommendation: the summary has no measured cell"]
    return [
        recommend([c for c in tuning.choices if c.replicas == n], tuning.budget, n,
                  len(counts) > 1)
        for n in counts
    ]  # fmt: skip


def cell_verdicts(cell: pd.Series, budget: Budget) -> list[Judgement]:
    return judge(cell.to_dict(), budget)


def miss_reason(cell: pd.Series, budget: Budget) -> str:
    """Why one cell misses the budget: its first limit that breaks, in its own figures."""
    if missing_reads(cell):
        return "no reads measured"
    breach = next(v for v in cell_verdicts(cell, budget) if not v.holds)
    return say_verdict(breach)


def missing_reads(cell: pd.Series) -> bool:
    return bool(pd.isna(cell.get("read_staleness_p99_ms")))


def why_none(cells: pd.DataFrame, budget: Budget) -> str:
    """No TTL of this strategy meets the budget: the nearest miss, limit by limit in the
    budget's order, among the cells that hold the limits before it."""
    if cells.apply(missing_reads, axis=1).all():
        return "no reads measured"
    within = cells
    for position, (limit, threshold) in enumerate(budget.limits()):
        judged = within[f"{limit.figure}_judged"]
        holding = within[[limit.holds(v, threshold) for v in judged]]
        if holding.empty:
            if judged.isna().all():
                return f"no TTL meets it: {say_figure(limit, float('nan'))}"
            best = judged.idxmin() if limit.bound == "max" else judged.idxmax()
            nearest = within.loc[best]
            where = "" if position == 0 else "within the other budgets, "
            return (f"no TTL meets it: {where}{say_figure(limit, nearest[judged.name])} at best"
                    f" (TTL {nearest['ttl_s']:g} s)")  # fmt: skip
        within = holding
    return "no TTL meets it"


def recommend(choices: list[Choice], budget: Budget, replicas: int, say_replicas: bool) -> str:
    """One line: the strategy and TTL recommended at this replica count, and why."""
    at = f" at {n_replicas(replicas)}" if say_replicas else ""
    order = ranked(choices)
    if not order:
        return (
            f"no recommendation{at}: no strategy measured keeps {describe(budget)} at any"
            " TTL measured; see each strategy's nearest miss above"
        )
    pick = order[0]
    figures = (
        f"hit ratio {fmt_pct(pick.hit_ratio)}, read p99 {fmt_ms(pick.read_p99_ms)} ms,"
        f" staleness p99: {stale_text(pick)}"
    )
    head = f"recommendation{at}: {pick.strategy} with TTL {pick.ttl_s:g} s ({figures})"
    if len(order) == 1:
        return f"{head}: the only strategy that keeps {describe(budget)}."
    second = order[1]
    if tie_break(pick.figures(), second.figures()) is not None:
        return f"{head}: {tied(pick, second)}{unknown_noise(pick, second)}."
    why = (
        f"the highest hit ratio of the {len(order)} strategies that keep"
        f" {describe(budget)}; next is {second.strategy} at TTL {second.ttl_s:g} s with"
        f" {fmt_pct(second.hit_ratio)}"
    )
    apart = distinguishable(pick.figures(), second.figures(), "hit_ratio")
    if apart is False:
        why += (
            f", a lead that the 95% intervals over {pick.repeats} repeats do not support:"
            f" {pick.strategy} and {second.strategy} are not distinguishable on this run"
        )
    return f"{head}: {why}{unknown_noise(pick, second)}."


def unknown_noise(pick: Choice, second: Choice) -> str:
    """With one repeat a lead has no interval to be judged by: say so, not a winner."""
    if pick.repeats > 1 or second.repeats > 1:
        return ""
    return (
        f"; from one repeat per cell there is no interval, so whether {pick.strategy}"
        f" and {second.strategy} differ beyond noise is not known (--repeats 3 tells)"
    )


def tied(pick: Choice, second: Choice) -> str:
    """Why `pick` beats `second` when their hit ratios tie: the first criterion that differs."""
    hits = f"{fmt_pct(pick.hit_ratio)} against {fmt_pct(second.hit_ratio)}"
    tie = f"it ties with {second.strategy} on hit ratio ({hits}: closer than {HIT_TIE * 100:g} pp)"
    criterion = tie_break(pick.figures(), second.figures())
    if criterion == "origin_rps_mean":
        rps = f"{fmt_number(pick.origin_rps_mean)} against {fmt_number(second.origin_rps_mean)}"
        return f"{tie} and has the lower origin load ({rps} origin reads/s)"
    if criterion == "read_p99_ms":
        ms = f"{fmt_ms(pick.read_p99_ms)} against {fmt_ms(second.read_p99_ms)} ms"
        return f"{tie} and origin load, and has the lower read p99 ({ms})"
    return f"{tie}, origin load and read p99, and comes first in the sweep's order"


def stale_text(choice: Choice) -> str:
    """The staleness p99 of a choice, or `none stale` (as the report writes it)."""
    return "none stale" if choice.stale_reads == 0 else f"{fmt_ms(choice.staleness_p99_ms)} ms"


def tuning_table(tuning: Tuning) -> dict[str, list]:
    """The verdicts as a table (columns, rows of text), for the report and the terminal."""
    worst = " (interval's upper end)" if any(c.repeats > 1 for c in tuning.choices) else ""
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
        note = choice_note(c, tuning.budget)
        if c.ttl_s is None:
            rows.append([c.strategy, str(c.replicas), "none", "-", "-", "-", note])
            continue
        rows.append(
            [
                c.strategy,
                str(c.replicas),
                f"{c.ttl_s:g} s",
                fmt_interval("hit_ratio", c.hit_ratio, c.hit_ratio_ci),
                fmt_ms(c.read_p99_ms),
                stale_text(c),
                note,
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
        f"budget: {describe(tuning.budget)} (over all reads, a fresh read counting 0 ms;"
        " with repeats, judged at the unfavourable end of each figure's 95% interval)"
    )
    return "\n".join([budget, *text, *recommendations(tuning)])


def tune_folder(folder: Path, budget: Budget) -> str:
    """`bench tune DIR`: the verdict on a folder's summary.csv (a sweep's or a run's)."""
    return format_tuning(tune(read_table(RunFolder(folder).summary), budget))
