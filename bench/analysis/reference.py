"""What a product read is judged against, held as sorted numpy codes: the checker's lookups
for a read of one product, made by binary search instead of joins.

The writes are few (a tenth of the rows, and far fewer distinct versions); the reads are
many. DuckDB builds the writes' tables (`bench.analysis.staleness.CHECK_SQL`): per
written product its small int `k`, per written version the earliest ack of that version
or a higher one (`newer_ack`), and the timeline of the writes' starts and acks. Those
come here, sorted (the timeline with its running maxima, taken here), and every read of
a strategy is then judged by `searchsorted` calls over them (its product's k, then its
version and its send time), in the frame analysis fetches anyway. The joins that did
this in SQL (a hash join by version, an as-of join by time, a join back by row) took
two thirds of the checker's time.

A lexicographic search over (k, value) needs one sortable int64, `k * width + position`:
a value's position is its offset from the smallest value (plus one), which fits while k
times the span of the values stays below 2**62 (an hour of nanoseconds leaves room for
a million products); beyond that, its rank among the distinct values. The reads are
judged in the order of their codes, by product then time: each search then walks its
sorted array forward, several times faster than keys at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

NO_K = -1  # a read of a product no answered write of its group touched
NEVER = -(2**63) + 1  # no write started yet: no time is at or before it
CODE_LIMIT = 2**62  # codes stay below it, so that no sum or product of them overflows


@dataclass(frozen=True)
class Sorted:
    """Rows sorted by (k, value), searchable by one code of both."""

    codes: np.ndarray  # k * width + position, non-decreasing
    width: int  # positions are 0 (before every value) to width - 1
    low: int  # offsets: the smallest value, at position 1, and the largest, at width - 1
    high: int
    ranks: np.ndarray | None  # ranks: the distinct values, sorted (None: offsets)
    top: int  # the largest k: a larger one is searched as the next, which no row has

    @classmethod
    def of(cls, k: np.ndarray, value: np.ndarray) -> Sorted:
        """`k` (at least 1) and `value`, sorted by both."""
        if not len(k):
            return cls(np.zeros(0, dtype=np.int64), 1, 0, -1, None, 0)
        low, high, top = int(value.min()), int(value.max()), int(k.max())
        if (top + 1) * (high - low + 2) < CODE_LIMIT:
            table = cls(np.zeros(0, dtype=np.int64), high - low + 2, low, high, None, top)
        else:
            distinct = _distinct(value)
            table = cls(np.zeros(0, dtype=np.int64), len(distinct) + 1, low, high, distinct, top)
        return cls(table.code(k, value), table.width, low, high, table.ranks, top)

    def code(self, k: np.ndarray, value: np.ndarray) -> np.ndarray:
        """The code of (k, value) for any value: its position is that of the largest
        stored value at or below it (0 below them all)."""
        if self.ranks is None:  # clipped first: a value far off would overflow
            position = np.clip(value, self.low, self.high) - self.low + 1
            position[value < self.low] = 0
        else:
            position = np.searchsorted(self.ranks, value, "right")
        return np.minimum(k, self.top + 1) * self.width + position

    def after(self, k: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Per (k, value): the index of the first row above it (of k, or a later k)."""
        return np.searchsorted(self.codes, self.code(k, value), "right")

    def of_k(self, index: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Where `index` points at a row of the read's own k."""
        inside = (index >= 0) & (index < len(self.codes))
        inside[inside] = self.codes[index[inside]] // self.width == k[inside]
        return inside


@dataclass(frozen=True)
class Reference:
    """The written versions (`newer_ack` per (k, version)) and the timeline (`latest_ack`,
    the largest ack of a write started so far; `newest_ack`, the largest ack so far, and
    whether there was one) of every written product, sorted."""

    spans: Sorted  # the written (group, product)s, by group + 1 and product
    span_product: np.ndarray
    span_k: np.ndarray
    versions: Sorted
    newer_ack: np.ndarray
    events: Sorted
    latest_ack: np.ndarray
    newest_ack: np.ndarray
    acked: np.ndarray

    @classmethod
    def fetch(cls, con: duckdb.DuckDBPyConnection) -> Reference:
        """From the tables `newer`, `spans` and `timeline` that `CHECK_SQL` made."""
        grp, product, span_k = _columns(con, "SELECT grp, product, k FROM spans ORDER BY ALL")
        k, version, newer_ack = _columns(
            con,
            """
            SELECT s.k, n.version, n.newer_ack FROM newer n JOIN spans s USING (grp, product)
            ORDER BY s.k, n.version""",
        )
        e_k, t, started_ack, ack = _columns(
            con,
            f"""
            SELECT k, t, coalesce(started_ack, {NEVER}), coalesce(ack, {NEVER})
            FROM timeline ORDER BY k, t""",
        )
        latest, newest = _running_max(e_k, started_ack), _running_max(e_k, ack)
        acked = newest != NEVER
        return cls(Sorted.of(grp + 1, product), product, span_k, Sorted.of(k, version),
                   newer_ack, Sorted.of(e_k, t), latest, np.where(acked, newest, 0),
                   acked)  # fmt: skip

    def k(self, grp: np.ndarray, product: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Per read of `product` in group `grp`, where `known`: its product's k, `NO_K`
        where no answered write of the group touched it (a lookup here, not a join in
        DuckDB, which was most of the fetch's SQL)."""
        group = grp + 1
        i = self.spans.after(group, product) - 1
        found = self.spans.of_k(i, group) & known
        found[found] = self.span_product[i[found]] == product[found]
        k = np.full(len(grp), NO_K, dtype=np.int64)
        k[found] = self.span_k[i[found]]
        return k

    def judge(self, k: np.ndarray, version: np.ndarray, known: np.ndarray,
              t_start: np.ndarray, uncertainty: np.ndarray,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Per product read (its product's `k`, or `NO_K`; the version it returned, where
        `known`; its send time and clock uncertainty, ns): its stale age (ms, NaN when
        fresh), the time since the newest ack before its send (ms, NaN when none) and
        whether a write was in flight then (`bench.analysis.staleness`)."""
        judged = np.flatnonzero((k != NO_K) & known)
        order = judged[_by_k_then_time(k[judged], t_start[judged])]
        k, t = k[order], t_start[order]
        t_from = t - uncertainty[order]
        # the first written version above the read's: its newer_ack is the earliest ack
        # of any version above the read's, written or not
        i = self.versions.after(k, version[order])
        found = self.versions.of_k(i, k)
        ack = np.zeros(len(k), dtype=np.int64)
        ack[found] = self.newer_ack[i[found]]
        stale = found & (ack < t_from)
        # the timeline's last event at or before the send (peers share their maxima)
        j = self.events.after(k, t) - 1
        seen = self.events.of_k(j, k)
        newest = np.zeros(len(k), dtype=np.int64)
        newest[seen] = self.newest_ack[j[seen]]
        acked = seen.copy()
        acked[seen] = self.acked[j[seen]]
        started = seen.copy()  # a write started at or before the send was acked after it
        started[seen] = self.latest_ack[j[seen]] >= t[seen]
        in_flight = np.zeros(len(known), dtype=bool)
        in_flight[order] = started
        return (
            _ms(order, len(known), stale, t_from - ack),
            _ms(order, len(known), acked, t - newest),
            in_flight,
        )


def _by_k_then_time(k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The order of reads by (k, t): stable sorts, by time (the reads come nearly in time
    order, which a stable sort takes in one pass) then by k, in 16 bits where k fits, for
    which numpy sorts by radix."""
    order = np.argsort(t, kind="stable")
    by_k = k[order]
    if len(by_k) and by_k.min() >= 0 and by_k.max() < 2**16:
        by_k = by_k.astype(np.uint16)
    return order[np.argsort(by_k, kind="stable")]


def _running_max(k: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per event (sorted by `k`, then time), the largest of `values` so far within its
    `k`. Events at one time may come in any order: a lookup reads the last of them,
    whose maximum includes all (as SQL's RANGE window gave every one). A pandas
    groupby's cummax, where DuckDB's window functions took a second at 10 million rows."""
    return pd.Series(values).groupby(k, sort=False).cummax().to_numpy(np.int64)


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


def _ms(order: np.ndarray, reads: int, where: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """`ns` in ms where the reads judged (at `order`) have `where`, NaN elsewhere, one per
    read of `reads`."""
    values = np.full(len(where), np.nan)
    values[where] = ns[where] / 1e6
    out = np.full(reads, np.nan)
    out[order] = values
    return out
