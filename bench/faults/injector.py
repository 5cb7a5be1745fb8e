"""Applying one strategy's fault schedule during its load, and recording what was done.

The schedule is pure data (`Fault`s); the injector turns it into start and end events
in time order, applies each one when the load's clock reaches it, through the runtime's
`FaultTarget`, and keeps one row per fault for faults.csv: what was applied, when (wall
clock ns, to line up with the request rows), and how it went. An injected fault is data
to measure, never a reason to stop: a fault that cannot be applied says why in its row.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from bench.faults.kinds import FaultTarget
from bench.faults.spec import Fault
from services.strategies import StrategySpec

COLUMNS = ("strategy", "kind", "arg", "at_s", "for_s", "started_ns", "ended_ns", "status")


@dataclass
class Applied:
    """One row of faults.csv."""

    strategy: str
    kind: str
    arg: float | None
    at_s: float
    for_s: float | None
    started_ns: int | None = None
    ended_ns: int | None = None
    status: str = "pending"

    def row(self) -> tuple[object, ...]:
        return tuple("" if value is None else value for value in astuple(self))


class Injector:
    def __init__(
        self,
        faults: Sequence[Fault],
        target: FaultTarget,
        strategy: StrategySpec,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.target, self.clock, self.wall_ns = target, clock, wall_ns
        self.faults = list(faults)
        self.applied = [Applied(strategy.name, f.kind, f.arg, f.at_s, f.for_s) for f in faults]
        # (time, ends first at a tie, fault, is_start): ends before starts at the same time
        self.events: list[tuple[float, int, int, bool]] = []
        for index, fault in enumerate(self.faults):
            if not fault.kind_of.applies(strategy):
                self.applied[index].status = "not applicable"
                continue
            self.events.append((fault.at_s, 1, index, True))
            if fault.kind_of.end is not None:
                self.events.append((fault.end_s, 0, index, False))
        self.events.sort()
        self.t0: float | None = None

    def start(self) -> None:
        """The load started now: AT and FOR count from here."""
        self.t0 = self.clock()

    def due(self) -> float:
        """Apply every event whose time has come; seconds until the next one (inf: none)."""
        assert self.t0 is not None, "start() first"
        elapsed = self.clock() - self.t0
        while self.events and self.events[0][0] <= elapsed:
            _, _, index, is_start = self.events.pop(0)
            self.apply(index, is_start)
        return self.events[0][0] - elapsed if self.events else math.inf

    def finish(self) -> list[Applied]:
        """The load is over: end what is still on (a pause must not outlive the load)."""
        for _, _, index, is_start in list(self.events):
            if not is_start and self.applied[index].started_ns is not None:
                self.apply(index, is_start=False)
            elif self.applied[index].status == "pending":
                self.applied[index].status = "not reached: the load ended first"
        self.events.clear()
        return self.applied

    def apply(self, index: int, is_start: bool) -> None:
        fault, record = self.faults[index], self.applied[index]
        if not is_start and record.status != "applied":
            return  # its start failed: there is nothing to end
        action = fault.kind_of.start if is_start else fault.kind_of.end
        stamp = self.wall_ns()
        try:
            assert action is not None
            action(self.target, fault.arg or 0.0)
        except Exception as exc:  # a fault that cannot be applied is recorded, not raised
            said = str(exc).splitlines()
            record.status = f"failed: {said[0] if said else type(exc).__name__}"
        else:
            record.status = "applied"
        if is_start:
            record.started_ns = stamp
            if fault.kind_of.end is None:
                record.ended_ns = stamp
        else:
            record.ended_ns = stamp


def write_faults(path: Path, applied: Sequence[Applied]) -> None:
    """Append rows to faults.csv (with its header when new): one run, every strategy."""
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(COLUMNS)
        writer.writerows(record.row() for record in applied)
