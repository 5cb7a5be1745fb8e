"""What a contract check found: one line per rule kept or broken, and the freshness
findings, which are never a breach; the catalogue layout it checked against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from services.openapi import CONTRACT_VERSION


@dataclass(frozen=True)
class Check:
    """One line of the verdict: a rule kept or broken, or a finding (never a breach)."""

    rule: str
    ok: bool
    detail: str
    finding: bool = False

    def line(self) -> str:
        mark = ("fresh" if self.ok else "STALE") if self.finding else ("ok" if self.ok else "FAIL")
        return f"{mark:<5} {self.rule}: {self.detail}"


@dataclass(frozen=True)
class Catalogue:
    """The layout the load assumes: products 1..N, product i in `c{(i-1) % C}`."""

    products: int
    categories: int
    probe_ids: tuple[int, ...]  # the last is the write's, the others the probe's

    def category_of(self, product_id: int) -> str:
        return f"c{(product_id - 1) % self.categories}"


class Target(NamedTuple):
    """A replica as the check found it: named by its X-Replica, else by its URL."""

    name: str
    url: str


@dataclass
class Findings:
    checks: list[Check] = field(default_factory=list)
    replicas: list[Target] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return all(c.ok for c in self.checks if not c.finding)

    @property
    def broken(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and not c.finding]

    @property
    def stale(self) -> list[Check]:
        """The freshness findings that failed: a reason the run records `failed_verify`."""
        return [c for c in self.checks if not c.ok and c.finding]

    def lines(self) -> list[str]:
        verdict = (
            "the contract holds"
            if self.holds
            else f"the contract does not hold: {', '.join(c.rule for c in self.broken)}"
        )
        return [*(c.line() for c in self.checks), f"contract v{CONTRACT_VERSION}: {verdict}"]


def parse_id_range(text: str) -> tuple[int, ...]:
    """`1001-1016` (or one id) as the ids it spans; ValueError with a readable message."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"FIRST-LAST, two ids, got {text!r}") from None
    if not 1 <= low <= high:
        raise ValueError(f"FIRST-LAST with 1 <= FIRST <= LAST, got {text!r}")
    if high - low >= 10_000:
        raise ValueError(f"at most 10000 ids, got {high - low + 1}")
    return tuple(range(low, high + 1))
