"""The tuner's verdicts in words: what bounds each strategy's choice, the recommendation
per replica count, the table for the report and the terminal.

`bench.analysis.tune` chooses and ranks, in figures; this module only says them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.analysis.tables import read_table
from bench.analysis.tune import HIT_TIE, Budget, Choice, Tuning, ranked, tune
from bench.layout import RunFolder
from bench.report.numbers import fmt_interval, fmt_ms, fmt_number, fmt_pct, missing, n_replicas


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


def describe(budget: Budget) -> str:
    """The budget in words, as the tuner's verdicts quote it."""
    hits = (
        f" and hit ratio at least {fmt_pct(budget.min_hit_ratio)}" if budget.min_hit_ratio else ""
    )
    origin = (
        f" and at most {budget.max_origin_rps:g} origin reads/s" if budget.max_origin_rps else ""
    )
    return f"staleness p99 within {budget.max_stale_ms:g} ms{hits}{origin}"


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
    if pick.hit_ratio - second.hit_ratio < HIT_TIE:
        return f"{head}: {tie_break(pick, second)}."
    why = (
        f"the highest hit ratio of the {len(order)} strategies that keep"
        f" {describe(budget)}; next is {second.strategy} at TTL {second.ttl_s:g} s with"
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
        " with repeats, every repeat must meet it)"
    )
    return "\n".join([budget, *text, *recommendations(tuning)])


def tune_folder(folder: Path, budget: Budget) -> str:
    """`bench tune DIR`: the verdict on a folder's summary.csv (a sweep's or a run's)."""
    return format_tuning(tune(read_table(RunFolder(folder).summary), budget))
