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
    """One row per strategy and second (`COLUMNS`); hit ratio 0..1, NaN without reads."""
    if requests.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    t0 = starts_ns(requests)

    def second(frame: pd.DataFrame) -> pd.Series:
        return (frame["t_start_ns"] - frame["strategy"].map(t0).astype("int64")) // 1_000_000_000

    by = ["strategy", "second"]
    # narrow frames of what is counted, not copies of the rows: at tens of millions of
    # rows a copy is gigabytes
    sent = pd.DataFrame({"strategy": requests["strategy"], "second": second(requests),
                         "failed": ~answered(requests)})  # fmt: skip
    counts = sent.groupby(by, sort=False).agg(requests=("failed", "size"),
                                              errors=("failed", "sum"))  # fmt: skip
    judged = pd.DataFrame({"strategy": reads["strategy"], "second": second(reads),
                           "stale": reads["stale"], "hit": hits(reads["cache"])})  # fmt: skip
    verdicts = judged.groupby(by, sort=False).agg(
        reads=("stale", "size"), stale_reads=("stale", "sum"), hit_ratio=("hit", "mean")
    )
    table = counts.join(verdicts, how="left").reset_index()
    table = table.merge(origin_reads_per_second(metrics, t0), on=by, how="left")
    table[["reads", "stale_reads"]] = table[["reads", "stale_reads"]].fillna(0).astype(int)
    return table.reindex(columns=list(COLUMNS))
