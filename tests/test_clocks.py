"""Rows from several hosts on one clock (bench.analysis.clocks, scenarios.clock_sync): the
offset arithmetic, the mapping and the checker's in-flight margin on literal histories,
and a real run whose first Locust worker's clock is 40 ms off."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.clocks import UNCERTAINTY, on_master_clock
from bench.analysis.staleness import check_staleness
from scenarios.clock_sync import estimate
from tests.test_staleness import MS, history

GROUP = ["strategy"]


def test_an_offset_is_the_master_time_against_the_middle_of_the_round_trip() -> None:
    # sent at 1,000 on the worker's clock, answered at 1,100; the master stamped 41,060
    assert estimate(1_000, 41_060, 1_100) == (40_010, 100)


def on_workers(frame: pd.DataFrame, workers: list[str]) -> pd.DataFrame:
    return frame.assign(worker=workers)


def clocks(*rows: tuple) -> pd.DataFrame:
    """(worker, t_ms, offset_ms, uncertainty_ms) estimates of strategy "s"."""
    return pd.DataFrame([{"strategy": "s", "worker": w, "t_ns": int(t * MS),
                          "offset_ns": int(o * MS), "uncertainty_ns": int(u * MS),
                          "rtt_ns": int(2 * u * MS)} for w, t, o, u in rows])  # fmt: skip


def test_rows_take_the_nearest_estimate_of_their_worker() -> None:
    frame = on_workers(history(("read", 1, 0, 1, 1), ("read", 1, 100, 101, 1),
                               ("read", 1, 100, 101, 1)), ["a", "a", "b"])  # fmt: skip
    mapped = on_master_clock(frame, clocks(("a", 0, -40, 0.5), ("a", 90, -41, 0.2)))
    assert (mapped["t_start_ns"] // MS).tolist() == [-40, 59, 100], "b has no estimate: as is"
    assert mapped[UNCERTAINTY].tolist() == [int(0.5 * MS), int(0.2 * MS), 0]


def test_a_row_midway_between_two_estimates_takes_the_later_one() -> None:
    frame = on_workers(history(("read", 1, 50, 51, 1), ("read", 1, 49.999999, 51, 1),
                               ("read", 1, 500, 501, 1)), ["a", "a", "a"])  # fmt: skip
    mapped = on_master_clock(frame, clocks(("a", 0, -10, 0.1), ("a", 100, -20, 0.2)))
    assert mapped[UNCERTAINTY].tolist() == [int(0.2 * MS), int(0.1 * MS), int(0.2 * MS)]


def skewed_history() -> pd.DataFrame:
    """Worker a's clock runs 40 ms ahead. b writes version 2 acked at 100 ms (true time);
    a reads at 80 ms (true), before the ack: concurrent, so fresh whatever it returns,
    but stamped 120 ms on a's clock."""
    frame = history(("write", 1, 90, 100, 2), ("read", 1, 120, 121, 1))
    return on_workers(frame, ["b", "a"])


def test_a_skewed_clock_makes_a_false_stale_read_which_the_mapping_removes() -> None:
    frame = skewed_history()
    assert check_staleness(frame, GROUP)["stale"].tolist() == [True], "uncorrected: false"
    mapped = on_master_clock(frame, clocks(("a", 0, -40, 0.5), ("b", 0, 0, 0.5)))
    assert check_staleness(mapped, GROUP)["stale"].tolist() == [False]


def test_within_the_uncertainty_a_read_is_in_flight_never_stale() -> None:
    # true stale by 0.6 ms, but each row's clock is known only within 0.5 ms
    frame = on_workers(history(("write", 1, 90, 100, 2), ("read", 1, 100.6, 101, 1)),
                       ["b", "a"])  # fmt: skip
    assert check_staleness(frame, GROUP)["stale"].tolist() == [True]
    mapped = on_master_clock(frame, clocks(("a", 0, 0, 0.5), ("b", 0, 0, 0.5)))
    assert check_staleness(mapped, GROUP)["stale"].tolist() == [False]
    # 1.2 ms later than the ack: beyond the 1 ms of combined uncertainty, stale
    late = on_workers(history(("write", 1, 90, 100, 2), ("read", 1, 101.2, 102, 1)),
                      ["b", "a"])  # fmt: skip
    reads = check_staleness(on_master_clock(late, clocks(("a", 0, 0, 0.5), ("b", 0, 0, 0.5))),
                            GROUP)  # fmt: skip
    assert reads["stale"].tolist() == [True] and math.isclose(reads["stale_age_ms"].iloc[0], 0.2)


@pytest.mark.run
@pytest.mark.harness  # asserts how skew is measured and corrected, not a strategy's figures
def test_a_worker_40_ms_off_is_measured_and_its_false_stale_reads_corrected(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "bench", "run", "--strategies", "versioned",
            "--replicas", "1", "--locust-workers", "2", "--scenario", "update_heavy",
            "--products", "20", "--categories", "2", "--rate", "300", "--users", "8",
            "--duration", "6", "--results", str(results)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240,
                          env=os.environ | {"BENCH_CLOCK_SKEW_MS": "40"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    estimates = pd.read_csv(folder / "clocks.csv")
    by_worker = estimates.groupby("worker")["offset_ns"].median() / 1e6
    assert len(by_worker) == 2
    skewed, plain = sorted(by_worker, key=abs, reverse=True)
    assert abs(skewed + 40) < 2, f"the master is 40 ms behind the skewed worker: {skewed}"
    assert abs(plain) < 2
    assert (estimates["uncertainty_ns"] / 1e6 < 2).all()

    def stale_reads() -> float:
        summary = pd.read_csv(folder / "summary.csv").set_index("strategy")
        return float(summary.loc["versioned", "stale_reads"])

    corrected = stale_reads()
    reported = re.findall(r"master ahead by ([+-]\d+\.\d+) ms", (folder / "report.md").read_text())
    assert any(abs(float(ms) + 40) < 2 for ms in reported), reported
    off = subprocess.run([sys.executable, "-m", "bench", "report", str(folder),
                          "--clock-correction", "off"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert off.returncode == 0, off.stderr
    uncorrected = stale_reads()
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["clock_correction"] is False
    assert uncorrected > max(10 * corrected, 20), (corrected, uncorrected)
    assert np.isfinite(corrected)
