"""What a product read is judged against, held as sorted numpy codes: the checker's lookups
for a read of one product, made by binary search instead of joins.

The writes are few (a tenth of the rows, and far fewer distinct versions); the reads are
many. DuckDB builds the writes' tables (`bench.analysis.staleness.CHECK_SQL`): per
written product its small int `k`, per written version the earliest ack of that version
or a higher one (`newer_ack`), and the timeline of running maxima over the writes'
starts and acks. Those come here, sorted, and every read of a strategy is then judged by
two `searchsorted` calls over them, in the frame analysis fetches anyway. The joins that
did this in SQL (a hash join by version, an as-of join by time, a join back by row) took
two thirds of the checker's time; searching costs a few hundred milliseconds per ten
million reads.

A lexicographic search over (k, value) needs one sortable int64: each value becomes its
rank among the distinct values (of the versions, or of the times), and the code is
`k * (ranks + 1) + rank`, which is exact while k times the distinct values stays below
2**63 (a billion of each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np

NO_K = -1  # a read of a product no answered write of its group touched
CACHED = 1 << 16  # sorted values searched in place: they stay in the CPU's cache
NEVER = -(2**63) + 1  # no write started yet: no time is at or before it


@dataclass(frozen=True)
class Sorted:
    """Rows sorted by (k, value), searchable by a code of both."""

    k: np.ndarray
    values: np.ndarray  # the distinct values, sorted
    codes: np.ndarray  # k * (len(values) + 1) + rank (+ `shift`), non-decreasing

    @classmethod
    def of(cls, k: np.ndarray, value: np.ndarray, shift: int) -> Sorted:
        values = _distinct(value)
        codes = k * (len(values) + 1) + _search(values, value, "left") + shift
        return cls(k, values, codes)

    def code(self, k: np.ndarray, rank: np.ndarray) -> np.ndarray:
        return k * (len(self.values) + 1) + rank


@dataclass(frozen=True)
class Reference:
    """The written versions (`newer_ack` per (k, version)) and the timeline (`latest_ack`,
    the largest ack of a write started so far; `newest_ack`, the largest ack so far, and
    whether there was one) of every written product, sorted."""

    versions: Sorted
    newer_ack: np.ndarray
    events: Sorted
    latest_ack: np.ndarray
    newest_ack: np.ndarray
    acked: np.ndarray

    @classmethod
    def fetch(cls, con: duckdb.DuckDBPyConnection) -> Reference:
        """From the tables `newer`, `spans` and `timeline` that `CHECK_SQL` made."""
        k, version, newer_ack = _columns(
            con,
            """
            SELECT s.k, n.version, n.newer_ack FROM newer n JOIN spans s USING (grp, product)
            ORDER BY s.k, n.version""",
        )
        e_k, t, latest, newest, acked = _columns(
            con,
            f"""
            SELECT k, t, coalesce(latest_ack, {NEVER}), coalesce(newest_ack, 0),
                   newest_ack IS NOT NULL
            FROM timeline ORDER BY k, t""",
        )
        return cls(Sorted.of(k, version, 0), newer_ack, Sorted.of(e_k, t, 1), latest, newest,
                   acked.astype(bool))  # fmt: skip

    def judge(self, k: np.ndarray, version: np.ndarray, known: np.ndarray,
              t_start: np.ndarray, uncertainty: np.ndarray,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Per product read (its product's `k`, or `NO_K`; the version it returned, where
        `known`; its send time and clock uncertainty, ns): its stale age (ms, NaN when
        fresh), the time since the newest ack before its send (ms, NaN when none) and
        whether a write was in flight then (`bench.analysis.staleness`)."""
        judged = (k != NO_K) & known
        k, t = k[judged], t_start[judged]
        t_from = t - uncertainty[judged]
        # the first written version above the read's: its newer_ack is the earliest ack
        # of any version above the read's, written or not
        above = _search(self.versions.values, version[judged], "right")
        i = _search(self.versions.codes, self.versions.code(k, above), "left")
        found = _same_k(self.versions.k, i, k)
        ack = np.zeros(len(k), dtype=np.int64)
        ack[found] = self.newer_ack[i[found]]
        stale = found & (ack < t_from)
        # the timeline's last event at or before the send (peers share their maxima)
        at_or_before = _search(self.events.values, t, "right")
        j = _search(self.events.codes, self.events.code(k, at_or_before), "right") - 1
        seen = _same_k(self.events.k, j, k)
        newest = np.zeros(len(k), dtype=np.int64)
        newest[seen] = self.newest_ack[j[seen]]
        acked = seen.copy()
        acked[seen] = self.acked[j[seen]]
        started = seen.copy()  # a write started at or before the send was acked after it
        started[seen] = self.latest_ack[j[seen]] >= t[seen]
        in_flight = np.zeros(len(judged), dtype=bool)
        in_flight[judged] = started
        return (_ms(judged, stale, t_from - ack), _ms(judged, acked, t - newest), in_flight)


def _columns(con: duckdb.DuckDBPyConnection, query: str) -> list[np.ndarray]:
    """The columns of `query` (none NULL) as numpy arrays, ints as int64."""
    columns = con.execute(query).fetchnumpy().values()
    return [np.asarray(c, dtype=np.int64) if np.asarray(c).dtype.kind in "iu" else np.asarray(c)
            for c in columns]  # fmt: skip


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (np.unique, which took seconds on millions here)."""
    ordered = np.sort(values)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first]


def _search(ordered: np.ndarray, keys: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
    """np.searchsorted, with many keys into a large array searched in sorted order:
    random keys miss the cache at every step, and sorting them first is several
    times faster (grouping the keys by k and keeping their time order was slower)."""
    if len(ordered) < CACHED or len(keys) < CACHED:
        return np.searchsorted(ordered, keys, side=side)
    order = np.argsort(keys)
    found = np.empty(len(keys), dtype=np.int64)
    found[order] = np.searchsorted(ordered, keys[order], side=side)
    return found


def _same_k(sorted_k: np.ndarray, index: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Where `index` points at a row of `sorted_k` with the read's own k."""
    inside = (index >= 0) & (index < len(sorted_k))
    inside[inside] = sorted_k[index[inside]] == k[inside]
    return inside


def _ms(judged: np.ndarray, where: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """`ns` in ms where the judged reads have `where`, NaN elsewhere, one per read."""
    values = np.full(len(where), np.nan)
    values[where] = ns[where] / 1e6
    out = np.full(len(judged), np.nan)
    out[judged] = values
    return out
