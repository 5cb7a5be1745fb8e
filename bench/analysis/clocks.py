"""Rows from several hosts on one clock: each Locust worker's rows mapped onto its master's.

`clocks.csv` (written by the master, `scenarios.clock_sync`) holds, per strategy and
worker, estimates of how far the master's clock is ahead of the worker's (`offset_ns`) and
within how much (`uncertainty_ns`, half the best round trip). Each row of a worker takes
the estimate nearest in time: its times are shifted by the offset, and it carries
`clock_uncertainty_ns`, which the staleness checker treats as in flight: a read is stale
only when its send, moved earlier by its uncertainty, is still after the write's
acknowledgement, moved later by its own (`bench.analysis.staleness.check_staleness`). So
a skew can hide a stale read within the uncertainty, never create one.

Rows of a process with no estimate (a single Locust process, local workers writing files)
keep their times and an uncertainty of 0: they share the probe's and the harness's clock.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from bench.layout import RunFolder

COLUMNS = ("strategy", "worker", "t_ns", "offset_ns", "uncertainty_ns", "rtt_ns")
UNCERTAINTY = "clock_uncertainty_ns"
SHIFTED = ("t_start_ns", "t_end_ns", "t_intended_ns")


def load_clocks(folder: Path) -> pd.DataFrame:
    """clocks.csv, or an empty table with its columns when the run has none."""
    path = RunFolder(folder).clocks
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    clocks = pd.read_csv(path, dtype={"strategy": "string", "worker": "string"})
    return clocks.dropna().astype({c: "int64" for c in COLUMNS[2:]})


def on_master_clock(requests: pd.DataFrame, clocks: pd.DataFrame) -> pd.DataFrame:
    """`requests` with each worker's times on the master's clock and `clock_uncertainty_ns`
    per row (0 where no estimate applies). Rows keep their order. Each row takes its
    worker's estimate nearest its send (`nearest_estimate_sql`, the SQL a run's rows go
    through in `bench.analysis.rows`)."""
    if clocks.empty:
        return requests
    offset, uncertainty = clock_offsets(requests, clocks)
    requests = requests.copy()
    for column in SHIFTED:
        if column in requests:
            requests[column] = requests[column] + offset
    requests[UNCERTAINTY] = uncertainty
    return requests


def nearest_estimate_sql(con: duckdb.DuckDBPyConnection, rows: str, clocks: pd.DataFrame) -> str:
    """A query of (rid, offset_ns, uncertainty_ns): for each row of relation `rows` (rid,
    strategy, worker, t_start_ns) with an estimate of its worker's clock, the estimate
    nearest its send; a tie, or none before it, takes the one after.

    Each estimate owns the sends from the midpoint after the one before it (rounded up:
    a tie goes to the later one) to the next one's, so that one as-of join on one small
    key finds it: not two (the nearest before, the nearest after) on two text columns."""
    con.register("clock_estimates", clocks[["strategy", "worker", "t_ns", "offset_ns",
                                             "uncertainty_ns"]])  # fmt: skip
    return f"""
        WITH est AS (SELECT strategy::VARCHAR AS strategy, worker::VARCHAR AS worker,
                            t_ns::BIGINT AS t_ns, offset_ns::BIGINT AS offset_ns,
                            uncertainty_ns::BIGINT AS uncertainty_ns FROM clock_estimates),
        keyed AS (SELECT *, dense_rank() OVER (ORDER BY strategy, worker) AS k FROM est),
        owned AS (
            SELECT k, offset_ns, uncertainty_ns,
                   coalesce((lag(t_ns) OVER (PARTITION BY k ORDER BY t_ns) + t_ns + 1) // 2,
                            -9223372036854775808) AS owns_from
            FROM keyed
        ),
        workers AS (SELECT DISTINCT k, strategy, worker FROM keyed),
        r AS (
            SELECT r.rid, w.k, r.t_start_ns FROM {rows} r
            JOIN workers w ON r.strategy = w.strategy AND r.worker = w.worker
        )
        SELECT r.rid, o.offset_ns, o.uncertainty_ns
        FROM r ASOF JOIN owned o ON r.k = o.k AND r.t_start_ns >= o.owns_from
    """


def clock_offsets(requests: pd.DataFrame, clocks: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `requests` (strategy, worker, t_start_ns): the offset and uncertainty
    (ns) of its worker's nearest clock estimate, 0 and 0 without one. The same SQL as a
    run's rows go through (`bench.analysis.rows`), for a table at hand."""
    given = pd.DataFrame({
        "rid": np.arange(len(requests), dtype=np.int64),
        "strategy": requests["strategy"].astype(str).to_numpy(),
        "worker": requests["worker"].astype(str).to_numpy(),
        "t_start_ns": requests["t_start_ns"].to_numpy(dtype=np.int64),
    })  # fmt: skip
    with duckdb.connect() as con:
        con.register("given", given)
        picked = con.execute(nearest_estimate_sql(con, "given", clocks)).df()
    offset = np.zeros(len(requests), dtype=np.int64)
    uncertainty = np.zeros(len(requests), dtype=np.int64)
    found = picked["offset_ns"].notna().to_numpy()
    rid = picked["rid"].to_numpy(dtype=np.int64)[found]
    offset[rid] = picked["offset_ns"].to_numpy()[found].astype(np.int64)
    uncertainty[rid] = picked["uncertainty_ns"].to_numpy()[found].astype(np.int64)
    return offset, uncertainty


def clock_summary(clocks: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and worker: estimates, offset median/min/max and largest uncertainty,
    in ms, for the report."""
    if clocks.empty:
        return pd.DataFrame(
            columns=[
                "strategy",
                "worker",
                "estimates",
                "offset_ms",
                "offset_min_ms",
                "offset_max_ms",
                "uncertainty_max_ms",
            ]
        )
    grouped = clocks.groupby(["strategy", "worker"], sort=False)
    return pd.DataFrame({
        "estimates": grouped.size(),
        "offset_ms": grouped["offset_ns"].median() / 1e6,
        "offset_min_ms": grouped["offset_ns"].min() / 1e6,
        "offset_max_ms": grouped["offset_ns"].max() / 1e6,
        "uncertainty_max_ms": grouped["uncertainty_ns"].max() / 1e6,
    }).reset_index()  # fmt: skip
