"""The staleness checker: a pure function from recorded requests to a verdict per read.

Like a Jepsen checker it sees only the history (the request rows of a run folder), never
a live system, so a stored run can be re-checked and the checker is tested on small
literal tables.

Definitions (docs/design.md, "What a stale read is"):
- A read (op `read` or `list`) is **stale** when some write to the same product with a
  higher version than the read returned had been acknowledged (the write's `t_end_ns`)
  strictly before the read was sent (its `t_start_ns`). Its **stale age** is the read's
  start minus the earliest acknowledgement among those writes, in milliseconds.
  A read sent before a write's ack is concurrent with it and never counted stale, so
  the checker gives no false positives.
- Only answered requests count (`answered`: 2xx, with a body that read): a failed
  write's outcome is unknown, and a read whose body had no version (`error`
  unparseable) is neither fresh nor stale.
- Writes are compared only within their group (a strategy, or a sweep cell): every group
  runs on a freshly seeded origin, so versions of different groups are unrelated.
- A list read is checked item by item: stale when any embedded product is stale; its
  stale age is the largest item age.

Times are wall-clock nanoseconds (int64) in the input, milliseconds (float) in the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NO_ACK_NS = np.iinfo(np.int64).max  # "no such write": later than any read
T_VISIBILITY_MS: tuple[float, ...] = (0.0, 10.0, 100.0, 1000.0, 10000.0)
_PRODUCT_BITS = 32
_ITEM = r"^(?P<id>\d+):(?P<version>\d+)$"


def successful(status: pd.Series) -> pd.Series:
    """True for HTTP 2xx; status 0 (connection error) and >= 300 are failures."""
    return (status >= 200) & (status < 300)


def answered(rows: pd.DataFrame) -> pd.Series:
    """True for a request answered 2xx whose body read (its `error` is ""): the requests
    that count as answers; every other row is an error (`scenarios.request_rows.ERRORS`:
    a 2xx with an unparseable body, a timeout, a request unanswered at the load's end).
    Rows without an `error` column (recorded before it existed) go by status alone."""
    ok = successful(rows["status"])
    if "error" in rows:
        error = rows["error"]
        ok &= (error.isna() | (error == "")).to_numpy(dtype=bool)
    return ok


def pair_keys(group_index: np.ndarray, product_id: np.ndarray) -> np.ndarray:
    """One int64 per (group, product id): `group << 32 | product id`."""
    if product_id.size and product_id.max() >= 1 << _PRODUCT_BITS:
        raise ValueError(f"product ids must be below 2**{_PRODUCT_BITS}")
    return (group_index.astype(np.int64) << _PRODUCT_BITS) | product_id.astype(np.int64)


@dataclass(frozen=True)
class WriteIndex:
    """The acknowledged writes of every (group, product), searchable by version.

    Writes are sorted by (stream, version) and packed into one sorted int64 key, so one
    `numpy.searchsorted` finds, for millions of reads at once, the first write with a
    strictly higher version; a suffix minimum of ack times over versions (per stream)
    then gives the earliest ack among all strictly higher versions. Writes acked out of
    version order are therefore handled.
    """

    streams: pd.Index  # pair key of each stream; position = dense stream id
    keys: np.ndarray  # stream id * stride + version, sorted ascending
    stream_ids: np.ndarray  # stream id of each entry of `keys`
    min_ack_ns: np.ndarray  # earliest ack (ns) among this entry and the later ones of its stream
    stride: int  # > every write version, so stream ids and versions do not overlap

    @classmethod
    def build(cls, pair: np.ndarray, version: np.ndarray, ack_ns: np.ndarray) -> WriteIndex:
        """Index answered writes: pair key, the version each created, its ack (ns)."""
        stride = int(version.max()) + 2 if version.size else 2
        stream_ids, streams = pd.factorize(pair)
        if len(streams) * stride >= 1 << 62:
            raise ValueError("too many products x versions to pack into int64 keys")
        keys = stream_ids.astype(np.int64) * stride + version.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        keys, stream_ids, ack_ns = keys[order], stream_ids[order], ack_ns[order]
        reversed_min = pd.Series(ack_ns[::-1]).groupby(stream_ids[::-1]).cummin()
        min_ack_ns = reversed_min.to_numpy(dtype=np.int64)[::-1]
        return cls(pd.Index(streams), keys, stream_ids, min_ack_ns, stride)

    def earliest_newer_ack_ns(self, pair: np.ndarray, version: np.ndarray) -> np.ndarray:
        """Per read: the earliest ack (ns) of a write with a higher version; NO_ACK_NS if none."""
        if not self.keys.size:
            return np.full(len(pair), NO_ACK_NS, dtype=np.int64)
        stream = self.streams.get_indexer(pair)  # -1: this product was never written
        clipped = np.clip(version.astype(np.int64), 0, self.stride - 1)
        query = np.maximum(stream, 0).astype(np.int64) * self.stride + clipped
        position = np.searchsorted(self.keys, query, side="right")
        inside = np.minimum(position, len(self.keys) - 1)
        found = (stream >= 0) & (position < len(self.keys)) & (self.stream_ids[inside] == stream)
        return np.where(found, self.min_ack_ns[inside], NO_ACK_NS)


def stale_age_ms(t_start_ns: np.ndarray, newer_ack_ns: np.ndarray) -> np.ndarray:
    """Read start minus the earliest newer ack, in ms; NaN when the read is fresh."""
    return np.where(newer_ack_ns < t_start_ns, (t_start_ns - newer_ack_ns) / 1e6, np.nan)


def explode_items(items: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split list bodies `id:version id:version ...` into three aligned int64 arrays.

    Returns (position of the row in `items`, product id, version). Malformed items are
    skipped rather than guessed at.
    """
    text = pa.array(items.fillna("").to_numpy(dtype=object), type=pa.string())
    tokens = pc.split_pattern(text, " ")
    row = pc.list_parent_indices(tokens).to_numpy()
    parsed = pc.extract_regex(pc.list_flatten(tokens), _ITEM)
    valid = pc.is_valid(parsed).to_numpy(zero_copy_only=False)
    product, version = (
        pc.cast(pc.struct_field(parsed, name), pa.int64()).to_numpy(zero_copy_only=False)
        for name in ("id", "version")
    )
    return row[valid].astype(np.int64), product[valid].astype(np.int64), version[valid]


def list_stale_ages_ms(
    lists: pd.DataFrame, group_index: np.ndarray, index: WriteIndex
) -> np.ndarray:
    """Per list read: the largest stale age of its items, in ms; NaN when every item is fresh.

    An item's age is the read's start minus the earliest newer ack of that product, so
    the largest is the start minus the earliest newer ack over all items: a property of
    the body alone. Bodies repeat (a cached list is served byte for byte until a write
    retires it), so each distinct (group, body) is parsed and looked up once.
    """
    item_code, _ = pd.factorize(lists["items"].fillna(""))
    body_code, _ = pd.factorize(pair_keys(group_index, item_code))
    _, first = np.unique(body_code, return_index=True)  # a list read showing each body
    row, product, version = explode_items(lists["items"].iloc[first])
    newer_ack = index.earliest_newer_ack_ns(pair_keys(group_index[first][row], product), version)
    body_ack = np.full(len(first), NO_ACK_NS, dtype=np.int64)
    np.minimum.at(body_ack, row, newer_ack)
    return stale_age_ms(lists["t_start_ns"].to_numpy(dtype=np.int64), body_ack[body_code])


def _asof_column(merged: pd.DataFrame, column: str, reads: pd.DataFrame) -> np.ndarray:
    """`column` of a merge_asof result back in the order of `reads`; -1 where unmatched."""
    values = merged.set_index("index")[column].reindex(reads.index)
    return values.fillna(-1).to_numpy(dtype=np.int64)


def _last_ack_before_ns(reads: pd.DataFrame, writes: pd.DataFrame) -> np.ndarray:
    """Per read: the newest ack (ns) strictly before it was sent; -1 when none."""
    left = reads[["pair", "t_start_ns"]].reset_index().sort_values("t_start_ns")
    right = writes[["pair", "t_end_ns"]].sort_values("t_end_ns")
    merged = pd.merge_asof(
        left,
        right,
        left_on="t_start_ns",
        right_on="t_end_ns",
        by="pair",
        direction="backward",
        allow_exact_matches=False,
    )
    return _asof_column(merged, "t_end_ns", reads)


def _write_in_flight(reads: pd.DataFrame, writes: pd.DataFrame) -> np.ndarray:
    """Per read: was a write on its product started but not yet acked when it was sent?

    In flight means write start <= read start <= write ack: a read sent at the very
    instant of the ack is not after it, so it is concurrent (as in the stale check).
    """
    right = writes[["pair", "t_start_ns", "t_end_ns"]].sort_values("t_start_ns")
    right["latest_ack_ns"] = right.groupby("pair")["t_end_ns"].cummax()
    left = reads[["pair", "t_start_ns"]].reset_index().sort_values("t_start_ns")
    merged = pd.merge_asof(
        left,
        right[["pair", "t_start_ns", "latest_ack_ns"]],
        on="t_start_ns",
        by="pair",
        direction="backward",
        allow_exact_matches=True,
    )
    latest_ack = _asof_column(merged, "latest_ack_ns", reads)
    return latest_ack >= reads["t_start_ns"].to_numpy(dtype=np.int64)


def _product_pairs(
    requests: pd.DataFrame, group_index: np.ndarray, candidates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: its (group, product) pair key, and whether the checker can judge it.

    Judged rows are the `candidates` (answered product reads and writes) whose key is
    a product id and whose answer carries a version; other rows get pair key of id 0.
    """
    # keys repeat (a catalogue's ids): parse each distinct key once, not every row's
    code, keys = pd.factorize(requests["key"])
    parsed = pd.to_numeric(pd.Series(keys, dtype=object), errors="coerce").to_numpy()
    numeric = np.where(code >= 0, parsed[code], np.nan)
    judged = candidates & ~np.isnan(numeric) & requests["version"].notna().to_numpy()
    product = np.zeros(len(requests), dtype=np.int64)
    product[judged] = numeric[judged].astype(np.int64)
    return pair_keys(group_index, product), judged


def check_staleness(requests: pd.DataFrame, group_columns: Sequence[str]) -> pd.DataFrame:
    """Every answered read (op read and list; see `answered`), with the checker's verdict.

    `requests` has the request-file columns (`scenarios.request_rows.COLUMNS`). Returns
    its read rows, every column but the list bodies (`items`, read only here), plus:
    - `stale` (bool) and `stale_age_ms` (float ms, NaN when fresh), lists item by item;
    - for product reads only: `since_write_ms`, the read's start minus the newest ack of
      a write to its product before it (float ms, NaN when none), and `write_in_flight`
      (bool), whether a write to its product was started but not acked when it was sent.
    """
    requests = requests.reset_index(drop=True)
    group_index = (
        requests.groupby(list(group_columns), sort=False, observed=True, dropna=False)
        .ngroup()
        .to_numpy()
    )
    op = requests["op"]
    is_read, is_write, is_list = (
        (op == name).to_numpy(dtype=bool) for name in ("read", "write", "list")
    )
    ok = answered(requests).to_numpy(dtype=bool)
    pair, judged = _product_pairs(requests, group_index, ok & (is_read | is_write))
    t_start = requests["t_start_ns"].to_numpy(dtype=np.int64)
    version = requests["version"].to_numpy(dtype=np.int64, na_value=0)

    wrote = judged & is_write
    t_end = requests["t_end_ns"].to_numpy(dtype=np.int64)
    index = WriteIndex.build(pair[wrote], version[wrote], t_end[wrote])
    writes = pd.DataFrame(
        {"pair": pair[wrote], "t_start_ns": t_start[wrote], "t_end_ns": t_end[wrote]}
    )
    # Verdicts for every row first, then one copy of the read rows: filtering a frame of
    # text columns is the dear part at ten million rows, so it happens once, and without
    # the list bodies, which nothing after the checker reads.
    age = np.full(len(requests), np.nan)
    single = judged & is_read
    age[single] = stale_age_ms(
        t_start[single], index.earliest_newer_ack_ns(pair[single], version[single])
    )
    listed = ok & is_list
    age[listed] = list_stale_ages_ms(
        requests.loc[listed, ["items", "t_start_ns"]], group_index[listed], index
    )
    reads_mask = ok & (is_read | is_list)
    columns = [c for c in requests.columns if c != "items"]
    reads = requests.loc[reads_mask, columns].assign(
        stale_age_ms=age[reads_mask], pair=pair[reads_mask]
    )
    product_read = single[reads_mask]
    singles = reads[product_read]
    reads["stale"] = reads["stale_age_ms"].notna()
    reads["since_write_ms"] = np.nan
    reads["write_in_flight"] = False
    if product_read.any() and len(writes):
        last_ack = _last_ack_before_ns(singles, writes)
        t_start = singles["t_start_ns"].to_numpy(dtype=np.int64)
        since = np.where(last_ack >= 0, (t_start - last_ack) / 1e6, np.nan)
        reads.loc[product_read, "since_write_ms"] = since
        reads.loc[product_read, "write_in_flight"] = _write_in_flight(singles, writes)
    return reads.drop(columns="pair")


def t_visibility(
    reads: pd.DataFrame,
    group_columns: Sequence[str],
    t_ms: Sequence[float] = T_VISIBILITY_MS,
) -> pd.DataFrame:
    """The share of product reads that are fresh t ms after a write (PBS t-visibility).

    Counts product reads only (op `read`; list reads are left out because one list has
    many "last writes") of a product written and acked before the read was sent, and
    not sent while a write to it was in flight. For each t (ms): `reads` = how many such
    reads were sent at least t ms after the newest ack; `fresh_share` (0..1) = the share
    of them that were fresh; `nines` = -log10(1 - fresh_share), inf when all were fresh,
    NaN when there were none. Input: the frame `check_staleness` returns.
    """
    rows = []
    for key, group in reads.groupby(list(group_columns), sort=False, observed=True, dropna=False):
        eligible = (
            (group["op"].astype(str) == "read")
            & group["since_write_ms"].notna()
            & ~group["write_in_flight"].astype(bool)
        )
        since = group.loc[eligible, "since_write_ms"].to_numpy(dtype=float)
        fresh = ~group.loc[eligible, "stale"].to_numpy(dtype=bool)
        for t in t_ms:
            selected = since >= t
            count = int(selected.sum())
            share = float(fresh[selected].mean()) if count else math.nan
            rows.append((*key, float(t), count, share, nines(share)))
    return pd.DataFrame(rows, columns=[*group_columns, "t_ms", "reads", "fresh_share", "nines"])


def nines(share: float) -> float:
    """Nines of consistency: -log10(1 - share); inf when share is 1, NaN when unknown."""
    if math.isnan(share):
        return math.nan
    if share >= 1.0:
        return math.inf
    return -math.log10(1.0 - share) + 0.0  # + 0.0: a share of 0 is 0 nines, not -0
