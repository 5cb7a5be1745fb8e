"""The thundering herd, counted from the request rows: per hot key, how many readers went
to the origin at once when it expired or was invalidated.

A herd is the misses of one key whose origin reads overlapped, across all replicas
(they share one origin): a miss sent while another miss of that key was still in flight
joins its herd; one sent after every earlier one had answered opens a new one. Its
size is the number of misses, each one an origin read; 1 is the ideal, one reader
refills for all. Overlap, not "no hit in between": under early recomputation (`xfetch`)
readers that refresh at once are a herd even though others keep hitting meanwhile. A
write acknowledged between two misses of its key starts a new herd: that invalidation
is an event of its own, and its readers must read again (a `lease` holder's fill of
the old row is refused). Only hot keys count, those with at least `HOT_SHARE` of the
strategy's product reads: a cold key's misses are far apart and would drown the herds
in ones.

Per herd, also the latency of the reads of its key sent in the second after it opened:
what readers paid while the key was being refilled. Pure: read verdicts in, tables out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.staleness import successful

HOT_SHARE = 0.01
AFTER_S = 1.0
HERD_COLUMNS: tuple[str, ...] = ("strategy", "key", "t_start_ns", "size")
STAT_COLUMNS: tuple[str, ...] = ("herd_size_p50", "herd_size_p99", "herd_size_max",
                                 "read_p99_after_expiry_ms")  # fmt: skip


def hot_reads(reads: pd.DataFrame) -> pd.DataFrame:
    """Successful product reads of each strategy's hot keys, in the order they were sent."""
    ok = reads[(reads["op"].astype(str) == "read") & successful(reads["status"])]
    counts = ok.groupby(["strategy", "key"], sort=False, observed=True)["op"].transform("size")
    totals = ok.groupby("strategy", sort=False, observed=True)["op"].transform("size")
    hot = ok[counts >= HOT_SHARE * totals]
    return hot.sort_values(["strategy", "key", "t_start_ns"], kind="stable")


def herds(reads: pd.DataFrame) -> pd.DataFrame:
    """One row per herd (`HERD_COLUMNS`): where it was, when it opened, how many missed."""
    return _herds(hot_reads(reads))


def _herds(hot: pd.DataFrame) -> pd.DataFrame:
    """`herds` of reads already narrowed to the hot keys (`hot_reads`)."""
    if hot.empty:
        return pd.DataFrame(columns=list(HERD_COLUMNS))
    misses = hot[hot["cache"] == "miss"]
    group = misses.groupby(["strategy", "key"], sort=False, observed=True)
    # when the last-answering earlier miss of the same key answered (ns); NaN: none yet
    answered = group["t_end_ns"].cummax()
    before = answered.groupby([misses["strategy"], misses["key"]], sort=False).shift(1)
    start = misses["t_start_ns"]
    written = start - misses["since_write_ms"] * 1e6  # the newest write ack before it (ns)
    previous = group["t_start_ns"].shift(1)
    opens = (before.isna() | (start > before) | (written > previous)).to_numpy()
    members = misses.assign(herd=np.cumsum(opens))
    table = members.groupby("herd", sort=False).agg(
        strategy=("strategy", "first"), key=("key", "first"),
        t_start_ns=("t_start_ns", "first"), size=("op", "size"),
    )  # fmt: skip
    return table.reset_index(drop=True).reindex(columns=list(HERD_COLUMNS))


def herd_stats(reads: pd.DataFrame) -> pd.DataFrame:
    """Per strategy (`STAT_COLUMNS`): herd size p50/p99/max, and the read p99 (ms) over
    the reads of a herd's key sent within `AFTER_S` of the herd opening."""
    hot = hot_reads(reads)
    table = _herds(hot)
    rows = {}
    for strategy, mine in table.groupby("strategy", sort=False):
        sizes = mine["size"].to_numpy(dtype=float)
        after = _reads_after(hot[hot["strategy"] == strategy], mine)
        rows[strategy] = {
            "herd_size_p50": float(np.quantile(sizes, 0.5)),
            "herd_size_p99": float(np.quantile(sizes, 0.99)),
            "herd_size_max": float(sizes.max()),
            "read_p99_after_expiry_ms": float(np.quantile(after, 0.99)) if len(after) else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(STAT_COLUMNS))


def _reads_after(hot: pd.DataFrame, herds_of: pd.DataFrame) -> np.ndarray:
    """Latencies of the reads of each herd's key in [opened, opened + AFTER_S), each once."""
    picked = np.zeros(len(hot), dtype=bool)
    starts, keys = hot["t_start_ns"].to_numpy(), hot["key"].to_numpy()
    for key, opened in herds_of.groupby("key", sort=False)["t_start_ns"]:
        same_key = keys == key
        edges = opened.to_numpy()
        # the latest herd of this key opened at or before each read
        last = np.searchsorted(edges, starts, side="right") - 1
        within = (last >= 0) & (starts - edges[np.maximum(last, 0)] < AFTER_S * 1e9)
        picked |= same_key & within
    return hot.loc[picked, "latency_ms"].to_numpy(dtype=float)
