"""What a report opens with: the decision a budget asks for, or the trade-off without one.

With a budget (`--max-stale-ms` and the other limits of `bench.analysis.budget`, given to
`bench run` or `bench report`): which strategies meet it, each failing strategy's first
breach with its figure, the pick by the stated rule, and whether the pick and the runner-up
can be told apart on this run. Without one: the front of the trade-off between hits and
staleness, drawn and named. Every figure comes from the summary rows handed in (a run's
values, or a repeated run's means with their `_ci` half-widths).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench.analysis.budget import (
    HIT_TIE,
    Budget,
    Judgement,
    distinguishable,
    first_breach,
    judge,
    ranked,
    tie_break,
)
from bench.manifest import REPEATS_KIND
from bench.report.budget import describe, say_verdict
from bench.report.numbers import fmt_interval, fmt_ms, missing
from bench.report.plots import PALETTE, save
from bench.report.render import data_uri

Row = Mapping[str, Any]
RULE = (
    "the pick is the strategy that meets every limit with the best hit ratio; hit ratios"
    f" closer than {HIT_TIE * 100:g} pp tie, and a tie goes to the lower origin reads/s, then"
    " the lower read p99. With repeats each figure is judged at the unfavourable end of its"
    " 95% interval."
)
TIE_WORDS = {"origin_rps_mean": "origin reads/s", "read_p99_ms": "read p99"}


@dataclass(frozen=True)
class Decision:
    """The budget's verdict on every strategy (in run order) and the pick, if any."""

    budget: Budget
    rows: list[Row]
    verdicts: list[list[Judgement]]
    order: list[int]  # indices of the rows that meet the budget, best first

    @property
    def pick(self) -> Row | None:
        return self.rows[self.order[0]] if self.order else None

    @property
    def runner_up(self) -> Row | None:
        return self.rows[self.order[1]] if len(self.order) > 1 else None


def decide(rows: Sequence[Row], budget: Budget) -> Decision:
    verdicts = [judge(row, budget) for row in rows]
    meeting = [i for i, row in enumerate(verdicts) if all(v.holds for v in row)]
    order = [meeting[i] for i in ranked([rows[i] for i in meeting])]
    return Decision(budget, list(rows), verdicts, order)


def breach_text(verdict: Judgement) -> str:
    """`staleness p99 150 ms (upper end ...) > 100 ms`: the first breach, with its limit."""
    sign = ">" if verdict.limit.bound == "max" else "<"
    return (
        f"{say_verdict(verdict)}, against {verdict.limit.flag} {verdict.threshold:g} ({sign} limit)"
    )


def pick_figures(row: Row) -> str:
    """The pick's figures in the rule's order, with intervals where there are some."""
    return ", ".join(
        f"{words} {fmt_interval(name, row.get(name), row.get(f'{name}_ci', math.nan))}{unit}"
        for name, words, unit in (
            ("hit_ratio", "hit ratio", ""),
            ("origin_rps_mean", "origin reads/s", ""),
            ("read_p99_ms", "read p99", " ms"),
        )
    )


def closeness(decision: Decision) -> str | None:
    """Whether the pick and the runner-up can be told apart on the figure that decided."""
    pick, second = decision.pick, decision.runner_up
    if pick is None or second is None:
        return None
    a, b = pick["strategy"], second["strategy"]
    criterion = tie_break(pick, second) or "hit_ratio"
    if criterion == "order":
        return (f"{a} and {b} tie on hit ratio, origin reads/s and read p99; {a} comes first"
                " in the run's order, which is no finding.")  # fmt: skip
    apart = distinguishable(pick, second, criterion)
    words = TIE_WORDS.get(criterion, "hit ratio")
    if apart is None:
        return (f"From one repeat there are no intervals: whether {a}'s lead over {b} on"
                f" {words} is beyond noise is not known (--repeats 3 tells).")  # fmt: skip
    if apart:
        return f"{a}'s lead over {b} on {words} is beyond the 95% intervals of this run."
    mine = fmt_interval(criterion, pick.get(criterion), pick.get(f"{criterion}_ci"))
    theirs = fmt_interval(criterion, second.get(criterion), second.get(f"{criterion}_ci"))
    return (f"{a} and {b} are not distinguishable on this run: their {words} intervals"
            f" overlap ({mine} against {theirs}); either is the pick.")  # fmt: skip


def decision_context(decision: Decision) -> dict[str, Any]:
    """The decision section's words and table, for both templates."""
    rows = []
    for row, verdicts in zip(decision.rows, decision.verdicts, strict=True):
        breach = first_breach(verdicts)
        rows.append([row["strategy"], "meets" if breach is None else "fails",
                     "-" if breach is None else breach_text(breach)])  # fmt: skip
    pick = decision.pick
    if pick is None:
        headline = f"No strategy measured meets the budget ({describe(decision.budget)})."
    else:
        meeting = [decision.rows[i]["strategy"] for i in decision.order]
        others = (
            f", the best of {len(meeting)} that meet it ({', '.join(meeting)})"
            if len(meeting) > 1
            else ", the only one that meets it"
        )
        headline = f"Pick: {pick['strategy']}{others}: {pick_figures(pick)}."
    return {
        "budget": describe(decision.budget),
        "rule": RULE,
        "headline": headline,
        "closeness": closeness(decision),
        "table": {"columns": ["strategy", "budget", "first breach"], "rows": rows},
    }


# --- without a budget: the trade-off between hits and staleness ---------------------------


def stale_age(row: Row) -> float:
    """Stale age p99 in ms, 0 where no read was stale (the best possible, not unknown)."""
    value = row.get("stale_age_p99_ms")
    if missing(value) and row.get("stale_reads") == 0:
        return 0.0
    return math.nan if missing(value) else float(value)


def front(rows: Sequence[Row]) -> list[int]:
    """Indices of the rows no other row beats on both hit ratio (higher) and stale age p99
    (lower), in run order; rows missing either figure are left out."""
    points = [(i, row.get("hit_ratio"), stale_age(row)) for i, row in enumerate(rows)]
    points = [(i, h, s) for i, h, s in points if not missing(h) and not missing(s)]
    return [
        i for i, h, s in points
        if not any((h2 >= h and s2 <= s) and (h2 > h or s2 < s) for _, h2, s2 in points)
    ]  # fmt: skip


def tradeoff_sentence(rows: Sequence[Row]) -> str:
    best = front(rows)
    names = [rows[i]["strategy"] for i in best]
    if not names:
        return "No strategy has both a hit ratio and a stale age to place on the trade-off."
    beaten = [row["strategy"] for i, row in enumerate(rows) if i not in best]
    rest = (f"; {', '.join(beaten)}: another strategy has at least as many hits and reads no"
            " staler" if beaten else "")  # fmt: skip
    return (f"The front of the trade-off, where no strategy has both more hits and a lower"
            f" stale-age p99: {', '.join(names)}{rest}. Give a budget (--max-stale-ms ...) and"
            " the report opens with a pick.")  # fmt: skip


def tradeoff_plot(rows: Sequence[Row], folder: Path) -> Path | None:
    """Stale-age p99 against hit ratio, one point per strategy sized by read p99, the front
    joined; `plots/tradeoff.png`, or None with nothing to place."""
    placed = [(row, stale_age(row)) for row in rows]
    placed = [(r, s) for r, s in placed if not missing(r.get("hit_ratio")) and not missing(s)]
    if not placed:
        return None
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot()
    p99s = [r.get("read_p99_ms") for r, _ in placed]
    known = [p for p in p99s if not missing(p)] or [1.0]
    names: dict[tuple[float, float], list[str]] = {}  # points that fall together: one label
    for index, ((row, stale), p99) in enumerate(zip(placed, p99s, strict=True)):
        size = 40 + 360 * ((p99 if not missing(p99) else min(known)) / max(known))
        ax.scatter(row["hit_ratio"] * 100, stale, s=size, alpha=0.6,
                   color=PALETTE[index % len(PALETTE)],
                   label=f"{row['strategy']} (read p99 {fmt_ms(p99)} ms)")  # fmt: skip
        at = (round(row["hit_ratio"] * 100, 1), round(stale, 1 if stale < 10 else -1))
        names.setdefault(at, []).append(row["strategy"])
    for (hit, stale), together in names.items():
        ax.annotate(", ".join(together), (hit, stale), fontsize=8, xytext=(8, 6),
                    textcoords="offset points")  # fmt: skip
    best = sorted((rows[i] for i in front(rows)), key=lambda r: r["hit_ratio"])
    ax.plot([r["hit_ratio"] * 100 for r in best], [stale_age(r) for r in best], "k--", lw=1,
            label="front: no strategy better on both")  # fmt: skip
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("hit ratio, % (more is better)")
    ax.set_ylabel("stale age p99, ms (less is better; 0: none stale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best", markerscale=0.5)
    fig.suptitle("Trade-off: hits against staleness; marker size is read p99")
    return save(fig, folder, "tradeoff")


def recorded_budget(manifest: Mapping[str, Any]) -> Budget | None:
    """The budget a run was given (`bench run` or `bench report`, kept in run.json; a
    repeated run keeps it in its config, as a sweep does)."""
    if manifest.get("kind") == REPEATS_KIND:
        return Budget.from_json(manifest.get("config"))
    return Budget.from_json(manifest.get("budget"))


def opening(rows: Sequence[Row], budget: Budget | None, folder: Path) -> dict[str, Any]:
    """The report's first section: the decision with a budget, else the trade-off, drawn
    into `folder/plots/tradeoff.png` (`plot_src` for markdown, `plot_uri` for HTML)."""
    if budget:
        return {"decision": decision_context(decide(rows, budget)), "tradeoff": None}
    if not rows:
        return {"decision": None, "tradeoff": None}
    plot = tradeoff_plot(rows, folder)
    return {
        "decision": None,
        "tradeoff": tradeoff_sentence(rows),
        "plot_src": plot.relative_to(folder).as_posix() if plot else None,
        "plot_uri": data_uri(plot) if plot else None,
    }
