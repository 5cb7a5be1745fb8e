"""Analysis of a literal run folder built in tmp_path: every expected figure by hand.

The folder holds two measured strategies, run in the order pubsub, delete (so tables
must follow the run, not the alphabet), and one that failed verification:
- `delete` (two Locust files, rows out of order): 9 requests over exactly 1 s, three of
  them errors; one read is stale for 1 ms; a probe with one censored row.
- `pubsub`: 4 reads over 6 ms, two from the local tier, no writes, no probe rows.
- `ttl`: failed verification, no rows, so no summary row.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.columns import SUMMARY_COLUMNS
from bench.analysis.figures import censored_quantile, read_stats
from bench.analysis.summary import CDF_QUANTILES, analyse, write_analysis
from bench.analysis.tables import HIT_CACHE_VALUES, MISS
from bench.manifest import SCHEMA_VERSION, Manifest
from bench.probe import cycle
from bench.run_config import RunConfig
from scenarios.request_rows import CACHE_VALUES, COLUMNS

T0_NS = 1_700_000_000_000_000_000
MS = 1_000_000
PROBE_COLUMNS = (
    "strategy", "cycle", "key", "writer", "replica", "ack_ns", "convergence_ms",
    "convergence_lo_ms", "polls", "poll_interval_ms", "censored",
)  # fmt: skip


def request(
    strategy, op, key, start_ms, end_ms, status, version, items, cache, server="", error=""
) -> list:
    """One request row as the recorder writes it (times in ms from T0 here)."""
    start, end = T0_NS + round(start_ms * MS), T0_NS + round(end_ms * MS)
    latency = f"{end_ms - start_ms:.3f}"
    return [strategy, op, key, start, end, latency, status, version, items, cache, "r1", "w",
            server, "", error]  # fmt: skip


# fmt: off
DELETE_FILE_A = [
    request("delete", "read", "1", 9, 12, 200, "2", "", "miss"),      # fresh
    request("delete", "read", "1", 0, 1, 200, "1", "", "miss"),
    request("delete", "write", "1", 3, 5, 200, "2", "", "miss"),      # v2 acked at 5 ms
    request("delete", "read", "1", 6, 8, 200, "1", "", "redis"),      # stale: 6 - 5 = 1 ms
    request("delete", "read", "3", 996, 1000, 404, "", "", "miss"),   # error; last answer
]
DELETE_FILE_B = [
    request("delete", "list", "c1", 10, 14, 200, "", "1:2 2:1", "redis"),  # fresh
    request("delete", "read", "2", 15, 15.1, 0, "", "", ""),         # no answer: error
    request("delete", "read", "1", 2, 2.5, 200, "1", "", "redis"),
    request("delete", "write", "2", 16, 20, 500, "", "", "miss"),     # error, ignored
]
PUBSUB_FILE = [  # versions restart: v1 here is fresh although delete wrote v2 of product 1
    request("pubsub", "read", "1", 2000, 2001, 200, "1", "", "local"),
    request("pubsub", "read", "1", 2001, 2003, 200, "1", "", "redis"),
    request("pubsub", "read", "1", 2003, 2004, 200, "1", "", "local"),
    request("pubsub", "list", "c1", 2004, 2006, 200, "", "1:1", "miss"),
]
DELETE_PROBE = [
    ["delete", 1, "p1", "r1", "r1", T0_NS, 1.0, 0.5, 3, 0.5, "False"],
    ["delete", 1, "p1", "r1", "r2", T0_NS, 2.0, 1.0, 4, 0.7, "False"],
    ["delete", 2, "p2", "r2", "r1", T0_NS, 3.0, 2.0, 5, 0.6, "False"],
    ["delete", 2, "p2", "r2", "r2", T0_NS, "", 30000.0, 9000, 0.6, "True"],
]
# fmt: on


def write_csv(path: Path, header: tuple[str, ...], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def write_manifest(
    folder: Path, strategies: list[str], failed: tuple[str, ...] = (), ttl_s: float = 30.0
) -> None:
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "status": "complete",
        "config": {
            "strategies": strategies,
            "scenario": "read_mostly",
            "ttl_s": ttl_s,
            "replicas": 3,
            "duration_s": 1.0,
        },
        "strategies": {
            name: {"status": "failed_verify" if name in failed else "complete"}
            for name in strategies
        },
    }
    (folder / "run.json").write_text(json.dumps(manifest))


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    write_manifest(tmp_path, ["pubsub", "delete", "ttl"], failed=("ttl",))
    write_csv(tmp_path / "requests" / "host-2.csv", COLUMNS, DELETE_FILE_B + PUBSUB_FILE)
    write_csv(tmp_path / "requests" / "host-1.csv", COLUMNS, DELETE_FILE_A)
    (tmp_path / "requests" / "host-3.csv").touch()  # a process that never flushed
    write_csv(tmp_path / "probe" / "probe.csv", PROBE_COLUMNS, DELETE_PROBE)
    return tmp_path


def summary_row(folder: Path, strategy: str) -> pd.Series:
    summary = analyse(folder).summary
    return summary.set_index("strategy").loc[strategy]


def test_summary_has_one_row_per_measured_strategy_in_run_order(run_folder: Path) -> None:
    summary = analyse(run_folder).summary
    assert summary.columns.tolist() == list(SUMMARY_COLUMNS)
    assert summary["strategy"].tolist() == ["pubsub", "delete"]  # as run, not by name
    assert summary["scenario"].tolist() == ["read_mostly"] * 2
    assert summary["replicas"].tolist() == [3, 3]
    assert summary["ttl_s"].tolist() == [30.0, 30.0]


def test_counts_rate_and_errors(run_folder: Path) -> None:
    delete = summary_row(run_folder, "delete")
    assert (delete["requests"], delete["reads"], delete["writes"]) == (9, 7, 2)
    assert delete["errors"] == 3  # status 0, 500, 404
    assert delete["rps"] == pytest.approx(9.0)  # 9 requests from 0 ms to 1000 ms
    pubsub = summary_row(run_folder, "pubsub")
    assert pubsub["rps"] == pytest.approx(4 / 0.006)


def test_latency_percentiles_at_full_precision(run_folder: Path) -> None:
    delete = summary_row(run_folder, "delete")
    # successful product reads: 0.5, 1, 2, 3 ms; linear interpolation at (n - 1) q
    assert delete["read_p50_ms"] == pytest.approx(1.5)
    assert delete["read_p90_ms"] == pytest.approx(2.7)
    assert delete["read_p99_ms"] == pytest.approx(2.97)
    assert delete["read_p999_ms"] == pytest.approx(2.997)
    assert delete["read_max_ms"] == pytest.approx(3.0)
    assert delete["write_p50_ms"] == pytest.approx(2.0)  # the failed write is left out
    assert delete["write_p99_ms"] == pytest.approx(2.0)
    assert math.isnan(summary_row(run_folder, "pubsub")["write_p50_ms"])


def test_server_time_beside_client_time(tmp_path: Path) -> None:
    """Read p50/p99 as the replica timed them (Server-Timing), over the same successful
    product reads as the client's; a row without the header does not count."""
    write_manifest(tmp_path, ["delete"])
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS, [
        request("delete", "read", "1", 0, 4, 200, "1", "", "miss", "1.0"),
        request("delete", "read", "1", 5, 7, 200, "1", "", "redis", "0.2"),
        request("delete", "read", "1", 8, 10, 200, "1", "", "redis", ""),
        request("delete", "read", "1", 11, 13, 200, "1", "", "redis", "0.4"),
        request("delete", "write", "1", 14, 19, 200, "2", "", "miss", "3.0"),
        request("delete", "read", "9", 20, 21, 404, "", "", "miss", "0.1"),
    ])  # fmt: skip
    delete = summary_row(tmp_path, "delete")
    assert delete["read_server_p50_ms"] == pytest.approx(0.4)
    assert delete["read_server_p99_ms"] == pytest.approx(0.4 + 0.98 * 0.6)
    assert delete["read_p50_ms"] == pytest.approx(2.0)


def test_rows_recorded_before_server_timing_and_open_loop_still_analyse(tmp_path: Path) -> None:
    write_manifest(tmp_path, ["delete"])
    old = [row[:-3] for row in DELETE_FILE_A]  # no server_ms, t_intended_ns, error
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS[:-3], old)
    delete = summary_row(tmp_path, "delete")
    assert delete["reads"] == 4 and math.isnan(delete["read_server_p50_ms"])
    assert math.isnan(delete["read_intended_p99_ms"]) and math.isnan(delete["arrivals_late"])
    assert (delete["errors"], delete["unparseable"]) == (1, 0)  # the 404, by status alone
    assert analyse(tmp_path).unreadable == {}


def test_an_intended_send_time_keeps_its_last_nanosecond(tmp_path: Path) -> None:
    """Open-loop rows carry a nullable ns time; analysis fetches rows from DuckDB, where a
    missing value must not turn the column into floats (which keep only ~16 digits)."""
    write_manifest(tmp_path, ["delete"])
    rows = [request("delete", "read", "1", 0, 1, 200, "1", "", "miss"),
            request("delete", "read", "1", 2, 3, 200, "1", "", "redis")]  # fmt: skip
    rows[0][COLUMNS.index("t_intended_ns")] = T0_NS - 123_457  # late by 0.123457 ms
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS, rows)
    reads = analyse(tmp_path).reads
    assert reads["t_intended_ns"].tolist() == [T0_NS - 123_457, pd.NA]
    assert summary_row(tmp_path, "delete")["arrival_lateness_p99_ms"] == pytest.approx(0.123457)


def test_what_did_not_answer_is_an_error_and_never_a_read_judged(tmp_path: Path) -> None:
    """A 3xx, a 2xx whose body did not read, a timeout and a request unanswered at the
    load's end are errors; the unparseable ones are counted apart; none is judged fresh or
    stale, nor timed: the figures rest on the answered reads alone."""
    write_manifest(tmp_path, ["delete"])
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS, [
        request("delete", "read", "1", 0, 1, 200, "1", "", "miss"),
        request("delete", "write", "1", 2, 3, 200, "2", "", "miss"),
        request("delete", "read", "1", 4, 5, 200, "", "", "redis", error="unparseable"),
        request("delete", "list", "c0", 6, 7, 200, "", "", "redis", error="unparseable"),
        request("delete", "read", "1", 8, 9, 302, "", "", ""),
        request("delete", "read", "1", 10, 2010, 0, "", "", "", error="timeout"),
        request("delete", "read", "1", 11, 3000, 0, "", "", "", error="unanswered"),
        request("delete", "read", "1", 12, 13, 200, "2", "", "redis"),
    ])  # fmt: skip
    delete = summary_row(tmp_path, "delete")
    assert (delete["requests"], delete["reads"], delete["reads_checked"]) == (8, 7, 2)
    assert (delete["errors"], delete["unparseable"]) == (5, 2)
    assert delete["stale_reads"] == 0 and delete["read_max_ms"] == pytest.approx(1.0)
    assert delete["hit_ratio"] == pytest.approx(0.5)  # of the two answered reads
    seconds = analyse(tmp_path).timeline
    assert seconds["errors"].sum() == 5


def test_rates_are_over_the_loads_own_duration(tmp_path: Path) -> None:
    """req/s is requests over run.json's `load_s` (Locust's run time), not over the rows'
    span, which a request sent late and answered after the load (or none) would bend;
    a run recorded before `load_s` uses the configured duration of a load that ran to its
    end, and a load that stopped early (no `rows_recorded`) the span."""
    write_manifest(tmp_path, ["delete", "pubsub", "ttl"])
    manifest = json.loads((tmp_path / "run.json").read_text())
    manifest["config"]["duration_s"] = 8.9  # Locust ran 8 s of it
    manifest["strategies"]["delete"] |= {"rows_recorded": 3, "load_s": 4}
    manifest["strategies"]["pubsub"] |= {"rows_recorded": 3}
    (tmp_path / "run.json").write_text(json.dumps(manifest))
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS, [
        request(name, "read", "1", start, start + 1, 200, "1", "", "miss")
        for name in ("delete", "pubsub", "ttl") for start in (0, 100, 12_000)
    ])  # fmt: skip
    summary = analyse(tmp_path).summary.set_index("strategy")
    assert summary.loc["delete", "rps"] == pytest.approx(3 / 4)
    assert summary.loc["pubsub", "rps"] == pytest.approx(3 / 8)
    assert summary.loc["ttl", "rps"] == pytest.approx(3 / 12.001)


def test_hit_ratios(run_folder: Path) -> None:
    delete = summary_row(run_folder, "delete")
    assert delete["hit_ratio"] == pytest.approx(3 / 5)  # 2 redis reads + 1 redis list
    assert delete["local_hit_ratio"] == 0.0
    assert delete["stale_by_design_ratio"] == 0.0  # delete never answers `stale`
    pubsub = summary_row(run_folder, "pubsub")
    assert pubsub["hit_ratio"] == pytest.approx(3 / 4)
    assert pubsub["local_hit_ratio"] == pytest.approx(2 / 4)


def test_a_stale_answer_is_a_hit_and_stale_by_design(tmp_path: Path) -> None:
    """swr answers `stale` past its soft TTL: from Redis, so a hit, and counted apart from
    the content-based stale reads (no write here, so none of those)."""
    write_manifest(tmp_path, ["swr"])
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS, [
        request("swr", "read", "1", 0, 1, 200, "1", "", "miss"),
        request("swr", "read", "1", 2, 3, 200, "1", "", "redis"),
        request("swr", "read", "1", 5, 6, 200, "1", "", "stale"),
        request("swr", "list", "c1", 7, 8, 200, "", "1:1", "stale"),
        request("swr", "read", "1", 10, 11, 200, "1", "", "redis"),
    ])  # fmt: skip
    swr = summary_row(tmp_path, "swr")
    assert swr["hit_ratio"] == pytest.approx(4 / 5)
    assert swr["stale_by_design_ratio"] == pytest.approx(2 / 5)
    assert swr["stale_read_ratio"] == 0.0
    assert math.isnan(read_stats(analyse(tmp_path).reads.iloc[:0])["stale_by_design_ratio"])


def test_every_recorded_cache_value_is_a_hit_or_a_miss() -> None:
    """A new X-Cache value must be classified here before analysis can count its hits."""
    assert set(CACHE_VALUES) <= {*HIT_CACHE_VALUES, MISS}


def test_the_expiry_windows_take_the_manifests_ttl(tmp_path: Path) -> None:
    """The refill answered at 1 ms expires at 2 ms under a 1 ms TTL: the 7 ms read sent
    then is in its window. The fixture's 30 s TTL would leave no read after it."""
    rows = [request("delete", "read", "1", 0, 1, 200, "1", "", "miss"),
            request("delete", "read", "1", 2, 9, 200, "1", "", "redis")]  # fmt: skip
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS, rows)
    write_manifest(tmp_path, ["delete"], ttl_s=0.001)
    assert summary_row(tmp_path, "delete")["read_p99_after_expiry_ms"] == pytest.approx(7.0)
    write_manifest(tmp_path, ["delete"])
    assert math.isnan(summary_row(tmp_path, "delete")["read_p99_after_expiry_ms"])


def test_staleness_columns(run_folder: Path) -> None:
    delete = summary_row(run_folder, "delete")
    assert delete["stale_reads"] == 1
    assert delete["stale_read_ratio"] == pytest.approx(1 / 5)
    assert delete["stale_age_p50_ms"] == pytest.approx(1.0)
    assert delete["stale_age_max_ms"] == pytest.approx(1.0)
    assert delete["list_stale_ratio"] == 0.0
    # over all five reads, fresh ones at 0 ms: [0, 0, 0, 0, 1.0], p99 interpolated at 3.96
    assert delete["read_staleness_p99_ms"] == pytest.approx(0.96)
    pubsub = summary_row(run_folder, "pubsub")
    assert pubsub["stale_reads"] == 0
    assert math.isnan(pubsub["stale_age_p50_ms"])
    assert pubsub["read_staleness_p99_ms"] == 0.0


def test_probe_columns_count_censored_cycles_as_beyond_every_bound(run_folder: Path) -> None:
    delete = summary_row(run_folder, "delete")
    assert delete["probe_cycles"] == 2
    assert delete["probe_censored"] == 1
    # upper bounds 1, 2, 3 and one censored (+inf): p50 between 2 and 3
    assert delete["probe_convergence_p50_ms"] == pytest.approx(2.5)
    assert delete["probe_convergence_p99_ms"] == math.inf
    assert delete["probe_convergence_max_ms"] == math.inf
    assert delete["probe_convergence_lo_p50_ms"] == pytest.approx(1.5)  # 0.5 1 2 30000
    assert delete["probe_bracket_p50_ms"] == pytest.approx(1.0)  # 0.5 1 1
    assert delete["probe_poll_interval_ms"] == pytest.approx(0.6)
    pubsub = summary_row(run_folder, "pubsub")
    assert (pubsub["probe_cycles"], pubsub["probe_censored"]) == (0, 0)
    assert math.isnan(pubsub["probe_convergence_p50_ms"])


def test_probe_errors_summed_and_unknown_in_a_file_written_before_them(run_folder: Path) -> None:
    assert math.isnan(summary_row(run_folder, "delete")["probe_errors"])  # no such column
    newer = [["delete", 3, "p3", "r1", "r1", T0_NS, 1.0, 0.5, 3, 0.5, "False", -0.2, 0],
             ["delete", 3, "p3", "r1", "r2", T0_NS, "", "", 0, "", "True", -0.2, 2]]  # fmt: skip
    write_csv(run_folder / "probe" / "probe-newer.csv", cycle.COLUMNS, newer)
    delete = summary_row(run_folder, "delete")
    assert (delete["probe_cycles"], delete["probe_censored"], delete["probe_errors"]) == (3, 2, 2)


def test_censored_quantile_matches_numpy_below_the_censored_tail() -> None:
    observed = np.array([3.0, 1.0, 2.0, 5.0])
    for q in (0.0, 0.25, 0.5, 0.9, 1.0):
        assert censored_quantile(observed, 0, q) == pytest.approx(np.quantile(observed, q))
    assert censored_quantile(observed, 1, 0.5) == pytest.approx(3.0)  # 1 2 3 5 inf
    assert censored_quantile(observed, 1, 0.8) == math.inf
    assert math.isnan(censored_quantile(np.array([]), 0, 0.5))


def test_folder_without_probe_files(run_folder: Path) -> None:
    for path in (run_folder / "probe").iterdir():
        path.unlink()
    (run_folder / "probe").rmdir()
    analysis = analyse(run_folder)
    assert analysis.probe.empty
    assert analysis.summary["probe_cycles"].tolist() == [0, 0]
    assert analysis.summary["probe_censored"].tolist() == [0, 0]
    assert analysis.summary["probe_convergence_p50_ms"].isna().all()
    assert analysis.summary["stale_reads"].tolist() == [0, 1]


def test_run_without_requests_gives_empty_tables(tmp_path: Path) -> None:
    write_manifest(tmp_path, ["ttl"])  # e.g. interrupted before the load began
    analysis = write_analysis(tmp_path)
    assert analysis.summary.empty
    assert pd.read_csv(tmp_path / "summary.csv").columns.tolist() == list(SUMMARY_COLUMNS)
    assert analysis.t_visibility.empty and analysis.latency_cdf.empty and analysis.reads.empty


def test_write_analysis_writes_three_tables(run_folder: Path) -> None:
    write_analysis(run_folder)
    summary = pd.read_csv(run_folder / "summary.csv")
    assert summary.columns.tolist() == list(SUMMARY_COLUMNS)
    assert summary["probe_convergence_max_ms"].iloc[1] == math.inf
    visibility = pd.read_csv(run_folder / "t_visibility.csv")
    assert visibility.columns.tolist() == ["strategy", "t_ms", "reads", "fresh_share", "nines"]
    assert visibility["strategy"].tolist() == ["pubsub"] * 5 + ["delete"] * 5
    # delete: reads after the ack at 5 ms: 6 ms (stale, since 1) and 9 ms (fresh, since 4)
    assert visibility["reads"].tolist() == [0] * 5 + [2, 0, 0, 0, 0]
    assert visibility["fresh_share"].iloc[5] == pytest.approx(0.5)
    assert visibility["fresh_share"].iloc[:5].isna().all()
    cdf = pd.read_csv(run_folder / "latency_cdf.csv")
    assert cdf.columns.tolist() == ["strategy", "op", "quantile", "latency_ms"]
    assert cdf[["strategy", "op"]].drop_duplicates().values.tolist() == [
        ["pubsub", "read"],
        ["pubsub", "list"],
        ["delete", "read"],
        ["delete", "write"],
        ["delete", "list"],
    ]
    reads = cdf[(cdf["strategy"] == "delete") & (cdf["op"] == "read")]
    assert reads["quantile"].tolist() == pytest.approx(list(CDF_QUANTILES))
    assert reads.set_index("quantile")["latency_ms"].loc[0.5] == pytest.approx(1.5)
    assert reads["latency_ms"].iloc[-1] == pytest.approx(3.0)


def test_reads_frame_flags_the_stale_read(run_folder: Path) -> None:
    reads = analyse(run_folder).reads
    stale = reads[reads["stale"]]
    assert stale[["strategy", "op", "key", "version"]].values.tolist() == [
        ["delete", "read", "1", 1]
    ]
    assert stale["stale_age_ms"].tolist() == pytest.approx([1.0])


def test_sweep_columns_in_the_rows_become_groups(tmp_path: Path) -> None:
    write_manifest(tmp_path, ["delete"])
    header = (*COLUMNS, "ttl_s")
    rows = [
        [*request("delete", "write", "1", 0, 1, 200, "2", "", "miss"), 1.0],
        [*request("delete", "read", "1", 5, 6, 200, "1", "", "redis"), 1.0],
        # another cell, freshly seeded: its v1 is not older than the other cell's v2
        [*request("delete", "read", "1", 50, 51, 200, "1", "", "redis"), 5.0],
    ]
    write_csv(tmp_path / "requests" / "a.csv", header, rows)
    analysis = analyse(tmp_path)
    assert analysis.summary["ttl_s"].tolist() == [1.0, 5.0]
    assert analysis.summary["stale_reads"].tolist() == [1, 0]
    assert analysis.t_visibility.columns.tolist()[:2] == ["strategy", "ttl_s"]


def synthetic_run(folder: Path, rows: int, seed: int = 1) -> None:
    """A read-mostly + lists load on 1000 products in 10 categories of 100 (80/10/10)."""
    rng = np.random.default_rng(seed)
    products, categories = 1000, 10
    op = rng.choice(["read", "write", "list"], size=rows, p=[0.8, 0.1, 0.1])
    start = T0_NS + np.sort(rng.integers(0, 60_000 * MS, size=rows))
    latency_ns = rng.integers(200_000, 5 * MS, size=rows)
    product = rng.integers(1, products + 1, size=rows)
    version = rng.integers(1, 50, size=rows).astype(str)
    bodies = [
        " ".join(f"{p}:{rng.integers(1, 50)}" for p in range(c + 1, products + 1, categories))
        for c in range(categories)
        for _ in range(50)
    ]
    is_list = op == "list"
    frame = pd.DataFrame(
        {
            "strategy": "delete",
            "op": op,
            "key": np.where(is_list, "c" + (product % categories).astype(str), product.astype(str)),
            "t_start_ns": start,
            "t_end_ns": start + latency_ns,
            "latency_ms": latency_ns / 1e6,
            "status": 200,
            "version": np.where(is_list, "", version),
            "items": np.where(is_list, np.array(bodies)[rng.integers(0, len(bodies), rows)], ""),
            "cache": rng.choice(["redis", "miss"], size=rows),
            "replica": "r1",
            "worker": "w",
        }
    )
    frame.to_csv(folder / "requests" / "synthetic.csv", index=False)


@pytest.mark.skipif(
    "BENCH_SCALE_ROWS" not in os.environ, reason="scale check: set BENCH_SCALE_ROWS=1000000"
)
def test_scale(tmp_path: Path) -> None:
    """Not a timed assertion: analyse must finish on a run of BENCH_SCALE_ROWS rows."""
    rows = int(os.environ["BENCH_SCALE_ROWS"])
    write_manifest(tmp_path, ["delete"])
    (tmp_path / "requests").mkdir()
    synthetic_run(tmp_path, rows)
    began = time.perf_counter()
    analysis = write_analysis(tmp_path)
    elapsed = time.perf_counter() - began
    print(f"\nanalyse + write of {rows} rows: {elapsed:.2f} s")
    assert analysis.summary["requests"].tolist() == [rows]
    assert analysis.summary["stale_reads"].iloc[0] > 0


def test_unreadable_rows_are_skipped_counted_and_reported(run_folder: Path) -> None:
    clean = analyse(run_folder)
    good_line = ",".join(map(str, DELETE_FILE_A[0]))
    with (run_folder / "requests" / "host-1.csv").open("a") as file:
        file.write(good_line.replace(",200,", ",oops,") + "\n")  # a status that is no number
        file.write(good_line.replace(",2,,", ",2.5,,") + "\n")  # a version that is no integer
        file.write(good_line[:25])  # cut short, as a killed Locust leaves its last line
    with (run_folder / "probe" / "probe.csv").open("a") as file:
        file.write("delete,3,p1,r1,r1,17")
    garbled = analyse(run_folder)
    pd.testing.assert_frame_equal(garbled.summary, clean.summary)
    pd.testing.assert_frame_equal(garbled.reads, clean.reads)  # ns kept exact on the slow path
    assert garbled.unreadable == {"requests/host-1.csv": 3, "probe/probe.csv": 1}
    config = RunConfig(strategies=("pubsub", "delete"), duration_s=1.0)
    Manifest(run_folder, config.as_json()).finish("complete")  # a whole run.json, for the report
    done = subprocess.run([sys.executable, "-m", "bench", "report", str(run_folder)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = (run_folder / "report.md").read_text()
    assert "3 unreadable rows skipped in requests/host-1.csv" in report
    assert "1 unreadable rows skipped in probe/probe.csv" in report
    assert pd.read_csv(run_folder / "unreadable_rows.csv").to_dict("records") == [
        {"file": "requests/host-1.csv", "rows": 3}, {"file": "probe/probe.csv", "rows": 1},
    ]  # fmt: skip


def test_files_loaded_side_by_side_each_keep_their_rows_and_their_bad_ones(
    run_folder: Path,
) -> None:
    """Two files are loaded at a time: both cut short, each is read the careful way on
    its own, its rows in their order and its bad row counted against it."""
    clean = analyse(run_folder)
    for name, rows in (("host-1.csv", DELETE_FILE_A), ("host-2.csv", DELETE_FILE_B)):
        with (run_folder / "requests" / name).open("a") as file:
            file.write(",".join(map(str, rows[0]))[:25])
    garbled = analyse(run_folder)
    pd.testing.assert_frame_equal(garbled.summary, clean.summary)
    pd.testing.assert_frame_equal(garbled.reads, clean.reads)
    assert garbled.unreadable == {"requests/host-1.csv": 1, "requests/host-2.csv": 1}


def test_analysis_reads_the_csvs_as_they_are_now_and_writes_nothing_beside_them(
    run_folder: Path,
) -> None:
    """The CSVs are the record: analysis parses them each time, leaves the requests folder
    as it was, answers the same twice, and a CSV that grew since (a late worker's rows)
    is read with its new rows."""
    csv = run_folder / "requests" / "host-1.csv"
    with csv.open("a") as file:
        file.write(",".join(map(str, DELETE_FILE_A[0]))[:25])  # cut short, as a kill leaves
    before = sorted((run_folder / "requests").iterdir())
    first = write_analysis(run_folder)
    assert sorted((run_folder / "requests").iterdir()) == before
    again = analyse(run_folder)
    pd.testing.assert_frame_equal(again.summary, first.summary)
    pd.testing.assert_frame_equal(again.reads, first.reads)
    assert again.unreadable == first.unreadable == {"requests/host-1.csv": 1}
    with csv.open("a") as file:  # completes the cut line with one more field, still bad
        file.write("\n" + ",".join(map(str, DELETE_FILE_A[0])) + "\n")
    later = analyse(run_folder)
    assert later.summary["requests"].sum() == first.summary["requests"].sum() + 1


def test_stale_reads_are_split_by_where_they_were_served(tmp_path: Path) -> None:
    """A replica behind the primary answers a miss with the old row (stale from the origin);
    that row put back in the cache answers later reads stale (from a cache tier), longer."""
    write_manifest(tmp_path, ["delete"])
    write_csv(tmp_path / "requests" / "a.csv", COLUMNS, [
        request("delete", "write", "1", 0, 2, 200, "2", "", "miss"),   # v2 acked at 2 ms
        request("delete", "read", "1", 3, 4, 200, "1", "", "miss"),    # the replica: 1 ms old
        request("delete", "read", "1", 10, 11, 200, "1", "", "redis"),  # put back: 8 ms old
        request("delete", "read", "1", 50, 51, 200, "1", "", "redis"),  # 48 ms old
        request("delete", "read", "1", 60, 61, 200, "2", "", "miss"),   # fresh at last
    ])  # fmt: skip
    delete = summary_row(tmp_path, "delete")
    assert (delete["stale_reads_origin"], delete["stale_reads_cached"]) == (1, 2)
    assert delete["stale_age_origin_max_ms"] == pytest.approx(1.0)
    assert delete["stale_age_cached_max_ms"] == pytest.approx(48.0)
