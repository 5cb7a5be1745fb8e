"""A budget and its verdicts in words, one way for the tuner, the report's decision and
`bench check`: each limit says its figure in the figure's unit, and a figure judged at its
interval's end says so."""

from __future__ import annotations

import math

from bench.analysis.budget import Budget, Judgement, Limit
from bench.report.numbers import fmt_ms, fmt_number, fmt_pct, missing

# Each limit in words: the budget's phrase for the limit, and how a figure of it reads.
PHRASES: dict[str, str] = {
    "max_stale_ms": "staleness p99 within {} ms",
    "min_hit_ratio": "hit ratio at least {}",
    "max_origin_rps": "at most {} origin reads/s",
    "max_stale_ratio": "stale-read ratio at most {}",
    "max_read_p99_ms": "read p99 within {} ms",
    "max_herd_p99": "herd p99 at most {}",
}
FIGURES: dict[str, str] = {
    "max_stale_ms": "staleness p99 {} ms",
    "min_hit_ratio": "hit ratio {}",
    "max_origin_rps": "{} origin reads/s",
    "max_stale_ratio": "stale-read ratio {}",
    "max_read_p99_ms": "read p99 {} ms",
    "max_herd_p99": "herd p99 {}",
}


def number(limit: Limit, value: float) -> str:
    """A limit's figure or threshold in its unit: `12 ms` style numbers, percentages."""
    if limit.ratio:
        return fmt_pct(value)
    return fmt_ms(value) if limit.figure.endswith("_ms") else fmt_number(value)


def difference(limit: Limit, value: float) -> str:
    """A difference of a limit's figure: percentage points for a ratio, ms with its unit."""
    if limit.ratio:
        return f"{value * 100:.2g} pp"
    return f"{fmt_ms(value)} ms" if limit.figure.endswith("_ms") else fmt_number(value)


def describe(budget: Budget) -> str:
    """The budget in words, e.g. `staleness p99 within 100 ms and hit ratio at least 90.0%`."""
    return " and ".join(PHRASES[limit.option].format(f"{value:g}" if not limit.ratio
                                                     else fmt_pct(value))
                        for limit, value in budget.limits())  # fmt: skip


def say_figure(limit: Limit, value: float) -> str:
    """One figure as a limit reads it: `staleness p99 150 ms`; `origin reads/s not measured`."""
    if missing(value):
        return f"{limit.what} not measured"
    return FIGURES[limit.option].format(number(limit, value))


def basis(verdict: Judgement) -> str:
    """Where the figure was judged: `` with one repeat, else the interval's end."""
    if not verdict.at_interval_end or math.isinf(verdict.mean):
        return ""
    end = "upper" if verdict.limit.bound == "max" else "lower"
    return f" ({end} end of the 95% interval over {verdict.repeats} repeats)"


def say_verdict(verdict: Judgement) -> str:
    """`staleness p99 150 ms (upper end of ...)`: the judged figure and where it was judged."""
    return say_figure(verdict.limit, verdict.value) + basis(verdict)
