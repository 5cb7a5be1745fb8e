"""A budget and its judgement: which figures a team holds a strategy to, and whether it holds.

One vocabulary for `bench tune`, `bench run`, `bench report` and `bench check`: each limit
is a flag naming a catalogued summary figure and which side of it is allowed. A figure is
judged where the measurement leaves it least favourable: with repeats, at the far end of
its 95% interval (the upper end for a `max_` limit, the lower end for a `min_` one), so a
pass cannot be a lucky mean; with one repeat, at the value measured. A figure that was not
measured (NaN) never holds: a budget is a promise, and nothing was shown.

Then the pick among the strategies that hold: the best hit ratio, ties (closer than
`HIT_TIE`) broken by the lower origin load, then the lower read p99, then run order. Two
strategies are distinguishable on a figure only when their intervals do not overlap; with
one repeat there is no interval, so nothing can be called distinguishable.

Pure functions of aggregated rows (`bench.analysis.repeats.aggregate`'s shape: a figure `f`
as its mean, `f_ci` its 95% half-width, NaN or absent with one repeat).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

HIT_TIE = 0.0005  # 0.05 percentage points: below the report's precision of 0.1%


class BudgetError(ValueError):
    """A budget out of range; the message is one line naming the option."""


@dataclass(frozen=True)
class Limit:
    """One kind of limit: the option (`max_stale_ms`, flag `--max-stale-ms`), the summary
    figure it bounds, which side is allowed, and the words and unit it is said in."""

    option: str
    figure: str
    bound: Literal["max", "min"]
    what: str
    help: str
    ratio: bool = False  # a 0..1 ratio (0 allowed for a max); else a positive finite number

    @property
    def flag(self) -> str:
        return "--" + self.option.replace("_", "-")

    def holds(self, value: float, limit: float) -> bool:
        if math.isnan(value):
            return False
        return value <= limit if self.bound == "max" else value >= limit


LIMITS: tuple[Limit, ...] = (
    Limit("max_stale_ms", "read_staleness_p99_ms", "max", "staleness p99",
          "99%% of reads at most this many ms stale (a fresh read counts 0 ms)"),
    Limit("min_hit_ratio", "hit_ratio", "min", "hit ratio",
          "a hit ratio of at least this (0..1)", ratio=True),
    Limit("max_origin_rps", "origin_rps_mean", "max", "origin reads/s",
          "at most this many origin reads per second (mean over the run)"),
    Limit("max_stale_ratio", "stale_read_ratio", "max", "stale-read ratio",
          "at most this share of reads stale (0..1)", ratio=True),
    Limit("max_read_p99_ms", "read_p99_ms", "max", "read p99",
          "a read p99 of at most this many ms (client side)"),
    Limit("max_herd_p99", "herd_size_p99", "max", "herd p99",
          "at most this many origin loads per expiry (p99 over expiries)"),
)  # fmt: skip
LIMIT_BY_OPTION: dict[str, Limit] = {limit.option: limit for limit in LIMITS}


@dataclass(frozen=True)
class Budget:
    """The limits a strategy is held to; None: not limited. Units are the figures' own
    (ms, 0..1 ratios, reads per second, origin loads per expiry)."""

    max_stale_ms: float | None = None
    min_hit_ratio: float | None = None
    max_origin_rps: float | None = None
    max_stale_ratio: float | None = None
    max_read_p99_ms: float | None = None
    max_herd_p99: float | None = None

    def __post_init__(self) -> None:
        for limit, value in self.limits():
            if limit.ratio and not 0 <= value <= 1:
                raise BudgetError(f"{limit.flag} is a ratio in 0..1, got {value}")
            if not limit.ratio and not 0 < value < math.inf:
                raise BudgetError(f"{limit.flag} must be a positive number, got {value}")

    def limits(self) -> list[tuple[Limit, float]]:
        """The limits set, in `LIMITS` order, with their values."""
        return [(LIMIT_BY_OPTION[f.name], getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None]  # fmt: skip

    def __bool__(self) -> bool:
        return bool(self.limits())

    def as_json(self) -> dict[str, float]:
        return {limit.option: value for limit, value in self.limits()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Budget | None:
        """The budget run.json recorded (None or {} when the run had none)."""
        given = {k: v for k, v in (data or {}).items() if k in LIMIT_BY_OPTION and v is not None}
        return cls(**given) if given else None


@dataclass(frozen=True)
class Judgement:
    """One strategy against one limit: the figure as judged (`value`: the interval's
    unfavourable end with repeats), its mean and half-width, and whether it holds."""

    limit: Limit
    threshold: float
    value: float
    mean: float
    ci: float
    repeats: int
    holds: bool

    @property
    def at_interval_end(self) -> bool:
        return not math.isnan(self.ci) and self.repeats > 1


def judged(mean: float, ci: float, bound: str) -> float:
    """A figure where it is least favourable: mean +/- its half-width; the mean without one."""
    if math.isnan(ci):
        return mean
    return mean + ci if bound == "max" else mean - ci


def figure(row: Mapping[str, Any], name: str) -> tuple[float, float]:
    """(mean, half-width) of a figure in an aggregated row; NaN where absent."""
    return _number(row.get(name)), _number(row.get(f"{name}_ci"))


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def judge(row: Mapping[str, Any], budget: Budget) -> list[Judgement]:
    """Every limit of `budget` on one strategy's aggregated row, in `LIMITS` order."""
    repeats = int(row.get("repeats") or 1)
    verdicts = []
    for limit, threshold in budget.limits():
        mean, ci = figure(row, limit.figure)
        value = judged(mean, ci, limit.bound)
        verdicts.append(Judgement(limit, threshold, value, mean, ci, repeats,
                                  limit.holds(value, threshold)))  # fmt: skip
    return verdicts


def first_breach(verdicts: Sequence[Judgement]) -> Judgement | None:
    return next((v for v in verdicts if not v.holds), None)


def ranked(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of `rows` best first by the pick rule: hit ratio (ties within `HIT_TIE`),
    then the lower origin reads/s, then the lower read p99, then the rows' order.

    A figure not measured (NaN) ranks last on its criterion."""

    def low(value: Any) -> float:
        number = _number(value)
        return math.inf if math.isnan(number) else number

    rest = list(range(len(rows)))
    order = []
    while rest:
        hits = [_number(rows[i].get("hit_ratio")) for i in rest]
        top = max((h for h in hits if not math.isnan(h)), default=math.nan)
        tied = [i for i, h in zip(rest, hits, strict=True)
                if math.isnan(top) or (not math.isnan(h) and top - h < HIT_TIE)]  # fmt: skip
        best = min(tied, key=lambda i: (low(rows[i].get("origin_rps_mean")),
                                        low(rows[i].get("read_p99_ms")), i))  # fmt: skip
        order.append(best)
        rest.remove(best)
    return order


def tie_break(pick: Mapping[str, Any], other: Mapping[str, Any]) -> str | None:
    """The criterion that put `pick` before `other` when their hit ratios tie (None when
    they do not tie): `origin_rps_mean`, `read_p99_ms`, or `order`."""
    if _number(pick.get("hit_ratio")) - _number(other.get("hit_ratio")) >= HIT_TIE:
        return None
    for name in ("origin_rps_mean", "read_p99_ms"):
        a, b = _number(pick.get(name)), _number(other.get(name))
        if a != b and not (math.isnan(a) and math.isnan(b)):
            return name
    return "order"


def distinguishable(a: Mapping[str, Any], b: Mapping[str, Any], name: str) -> bool | None:
    """Whether two strategies' intervals on a figure are apart; None with no intervals to
    tell by (one repeat), which is not the same as "equal"."""
    (mean_a, ci_a), (mean_b, ci_b) = figure(a, name), figure(b, name)
    if any(math.isnan(x) for x in (mean_a, ci_a, mean_b, ci_b)):
        return None
    return abs(mean_a - mean_b) > ci_a + ci_b
