"""One probe cycle: what the polls of each replica saw, and the rows it becomes.

Pure (no I/O, no aiohttp), so analysis can import the row schema and tests can check
the bracket arithmetic on literal timestamps.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field

# The one statement of the probe file's schema: column order and the pandas dtype
# analysis reads each column as.
DTYPES: dict[str, str] = {
    "strategy": "string",
    "cycle": "int64",
    "key": "string",
    "writer": "string",
    "replica": "string",
    "ack_ns": "int64",
    "convergence_ms": "float64",
    "convergence_lo_ms": "float64",
    "polls": "float64",
    "poll_interval_ms": "float64",
    "censored": "string",
    "sent_ms": "float64",  # the write's send, ms from its ack (negative): polling began then
    "errors": "Int64",  # the replica's failed requests in the cycle; empty in older files
}
COLUMNS: tuple[str, ...] = tuple(DTYPES)


@dataclass
class ReplicaWatch:
    """What the polls of one replica saw in one cycle (perf_counter ns)."""

    url: str
    last_stale_send: int | None = None
    first_fresh_answer: int | None = None
    polls: int = 0
    sends: list[int] = field(default_factory=list)
    errors: int = 0  # requests with no version: no answer, a status other than 200, a bad body
    skipped: bool = False  # no answer to the warm-up: not polled in this cycle


@dataclass
class Cycle:
    number: int
    key: int
    writer: int
    ack_ns: int = 0  # wall clock, to line up with the request rows
    ack_perf: int = 0
    sent_perf: int = 0  # when the write was sent: polling starts then
    watches: list[ReplicaWatch] = field(default_factory=list)
    censored: bool = False
    failed: str = ""  # why the write made no version the polls could look for


def cycle_rows(strategy: str, names: list[str], cycle: Cycle) -> list[list[object]]:
    """One row per replica, `COLUMNS` in order; times in ms after the write's ack.

    Polling starts when the write is sent, so a replica may turn fresh before the ack
    reaches the probe: both bounds can be negative.
    convergence_ms: first fresh answer - ack, empty when none came before the cap.
    convergence_lo_ms: last stale send - ack; with no stale answer at all, the write's
        send - ack (the replica was fresh at the first poll, sent with the write); empty
        when that cannot be said (a failed request came first, or no poll was sent).
    poll_interval_ms: the mean gap between this replica's polls, empty with fewer than two.
    censored: no fresh answer before the cap, or a failed request of this replica in the
        cycle (`errors`), or a failed write: what the row shows is not the strategy's
        bracket alone, so analysis counts it beyond the cap.
    A failed write (`cycle.failed`) leaves every bound empty; its ack is when it failed.
    """
    rows = []
    for index, watch in enumerate(cycle.watches):
        answer = None if cycle.failed else watch.first_fresh_answer
        fresh = answer is not None
        upper = "" if answer is None else (answer - cycle.ack_perf) / 1e6
        if cycle.failed:
            lower: object = ""
        elif watch.last_stale_send is not None:
            lower = (watch.last_stale_send - cycle.ack_perf) / 1e6
        elif watch.errors or not watch.sends:
            lower = ""
        else:
            lower = (cycle.sent_perf - cycle.ack_perf) / 1e6
        gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(watch.sends)]
        censored = not fresh or watch.errors > 0
        rows.append(
            [strategy, cycle.number, cycle.key, names[cycle.writer], names[index], cycle.ack_ns,
             upper, lower, watch.polls, statistics.fmean(gaps) if gaps else "", censored,
             (cycle.sent_perf - cycle.ack_perf) / 1e6, watch.errors]
        )  # fmt: skip
    return rows
