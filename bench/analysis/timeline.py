"""Per strategy and per second of its load: what happened, to lay fault windows over.

From the request rows and the checker's verdicts: requests, errors, reads, stale reads
and the hit ratio each second; from the replicas' own counters (metrics/<strategy>.csv,
scraped once a second): origin reads per second, summed over replicas. Second 0 is the
strategy's first request. A replica's counters start again at 0 when it restarts (a
replica-kill fault): a fall is read as a restart, not as negative reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.staleness import answered
from bench.analysis.tables import hits
from bench.layout import RunFolder

COLUMNS: tuple[str, ...] = ("strategy", "second", "requests", "errors", "reads", "stale_reads",
                            "hit_ratio", "origin_reads_per_s")  # fmt: skip
ORIGIN_READS = "origin_reads_total"


def load_metrics(folder: Path) -> pd.DataFrame:
    """Every metrics/<strategy>.csv, with `strategy` from its name; empty when none."""
    files = sorted(RunFolder(folder).path.glob("metrics/*.csv"))
    frames = [pd.read_csv(p, dtype={"replica": str, "sample": str}).assign(strategy=p.stem)
              for p in files if p.stat().st_size]  # fmt: skip
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame(columns=["t_ns", "replica", "sample", "value", "strategy"])
    return pd.concat(frames, ignore_index=True)


def starts_ns(requests: pd.DataFrame) -> pd.Series:
    """Each strategy's second 0: its first request's start (ns)."""
    return requests.groupby("strategy", sort=False)["t_start_ns"].min()


def origin_reads_per_second(metrics: pd.DataFrame, t0: pd.Series) -> pd.DataFrame:
    """(strategy, second, origin_reads_per_s) from the scraped counters.

    A rate, each replica's reads over the time since its previous scrape, not a count:
    scrapes drift against the clock's seconds, and two landing in one second would show
    as a doubled peak. The replicas' rates in a second are summed."""
    rows = metrics[metrics["sample"] == ORIGIN_READS].sort_values("t_ns")
    if rows.empty:
        return pd.DataFrame(columns=["strategy", "second", "origin_reads_per_s"])
    by_replica = rows.groupby(["strategy", "replica"])
    step = by_replica["value"].diff()
    reads = np.where(step < 0, rows["value"], step)  # a fall: a restart
    rows = rows.assign(rate=reads / (by_replica["t_ns"].diff() / 1e9))
    rows = rows[rows["rate"].notna() & rows["strategy"].isin(t0.index)]
    second = (rows["t_ns"] - rows["strategy"].map(t0)) // 1_000_000_000
    per_replica = rows.assign(second=second).groupby(["strategy", "second", "replica"])["rate"]
    per = per_replica.mean().groupby(["strategy", "second"]).sum()
    return per.rename("origin_reads_per_s").reset_index()


def origin_load(table: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, origin reads per second over its 1 s windows: mean and peak (NaN
    without scraped counters). What the cache is for, seen from the database's side."""
    # in time order, so that the mean's last digit does not hang on the order rows came in
    rates = table.sort_values("second", kind="stable").groupby("strategy", sort=False)[
        "origin_reads_per_s"
    ]
    return pd.DataFrame({"origin_rps_mean": rates.mean(), "origin_rps_peak": rates.max()})


def timeline(requests: pd.DataFrame, reads: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and second (`COLUMNS`), in order of strategy (as first
    recorded) and second; hit ratio 0..1, NaN without reads.

    Counted with `np.bincount` over one int per (strategy, second), not a pandas groupby:
    at millions of rows a strategy the groupby's hashing was most of the time. The sums
    are of 0s and 1s, so exact, and a ratio is the same division as a mean's."""
    if requests.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    t0 = starts_ns(requests)
    codes, strategies = pd.factorize(requests["strategy"])
    read_codes = pd.Categorical(reads["strategy"], categories=strategies).codes.astype(np.int64)

    def second(frame: pd.DataFrame) -> np.ndarray:
        start = frame["strategy"].map(t0).to_numpy(np.int64)
        return (frame["t_start_ns"].to_numpy(np.int64) - start) // 1_000_000_000

    sent_second, read_second = second(requests), second(reads)
    cell, cells = _cells(codes.astype(np.int64), sent_second, read_codes, read_second)
    sent, read = cell[: len(requests)], cell[len(requests) :]

    def count(at: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(at, weights=weights, minlength=len(cells))

    hit = hits(reads["cache"]).to_numpy(float)
    said = ~np.isnan(hit)
    hit_sum, hit_count = count(read[said], hit[said]), count(read[said])
    ratio = np.full(len(cells), np.nan)
    np.divide(hit_sum, hit_count, out=ratio, where=hit_count > 0)
    table = pd.DataFrame({
        "strategy": strategies.take(cells[:, 0]),
        "second": cells[:, 1],
        "requests": count(sent),
        "errors": count(sent, (~answered(requests)).to_numpy(float)).astype(np.int64),
        "reads": count(read),
        "stale_reads": count(read, reads["stale"].to_numpy(float)).astype(np.int64),
        "hit_ratio": ratio,
    })  # fmt: skip
    table = table[table["requests"] > 0]  # a read is a request: its second is one of theirs
    table = table.merge(origin_reads_per_second(metrics, t0), on=["strategy", "second"],
                        how="left")  # fmt: skip
    return table.reindex(columns=list(COLUMNS))


def _cells(codes: np.ndarray, seconds: np.ndarray, read_codes: np.ndarray,
           read_seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Each request's, then each read's, index among (strategy code, second) pairs, and
    those pairs in order (an array of two columns): every pair up to the last second
    when there are not many more of them than rows (no sort needed), else the distinct
    ones (a run whose clock jumped by days)."""
    code, second = np.concatenate([codes, read_codes]), np.concatenate([seconds, read_seconds])
    span = int(second.max()) + 1 if len(second) else 1
    flat = code * span + second
    pairs = (int(code.max()) + 1 if len(code) else 0) * span
    if pairs <= 2 * len(flat) + (1 << 16):
        present, index = np.arange(pairs), flat
    else:
        present, index = np.unique(flat, return_inverse=True)
    return index, np.column_stack([present // span, present % span])
