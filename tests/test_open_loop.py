"""Open-loop arrivals see a stall that closed-loop load hides (coordinated omission).

One replica of two is paused for 1 s. Closed loop, each Locust user waits for its answer,
so the ~100 requests that should have gone to the paused replica in that second are
never sent: a handful of users wait, and the percentiles barely move. Open loop, the
schedule keeps sending at 200 req/s, the paused replica's requests queue, and the
latency from each one's intended start shows the stall.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.tables import load_requests

pytestmark = pytest.mark.run  # starts real runs: make test-fast leaves it out

RUN = [sys.executable, "-m", "bench", "run", "--strategies", "delete", "--replicas", "2",
       "--duration", "15", "--rate", "200", "--fault", "replica-pause@5+1:1"]  # fmt: skip
AWAY_S = 1.0  # reads sent this close to the pause are left out of "without the pause"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    for arrivals in ("open", "closed"):
        results = tmp_path_factory.mktemp(arrivals)
        done = subprocess.run([*RUN, "--arrivals", arrivals, "--results", str(results)],
                              capture_output=True, text=True, timeout=180)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        [folders[arrivals]] = results.iterdir()
    return folders


def summary(folder: Path) -> pd.Series:
    return pd.read_csv(folder / "summary.csv").set_index("strategy").loc["delete"]


def test_open_loop_measures_the_stall_closed_loop_hides(runs: dict[str, Path]) -> None:
    opened, closed = summary(runs["open"]), summary(runs["closed"])
    assert opened["read_intended_p99_ms"] >= 250, "a second's queue on half the arrivals"
    assert closed["read_p99_ms"] < opened["read_intended_p99_ms"] / 4
    assert np.isnan(closed["read_intended_p99_ms"]) and np.isnan(closed["arrivals_late"])


def test_every_open_loop_request_carries_its_intended_start(runs: dict[str, Path]) -> None:
    opened, _ = load_requests(runs["open"])
    closed, _ = load_requests(runs["closed"])
    assert opened["t_intended_ns"].notna().all() and closed["t_intended_ns"].isna().all()
    assert (opened["t_start_ns"] >= opened["t_intended_ns"]).all(), "never sent early"
    late = summary(runs["open"])["arrivals_late"]
    assert 0 <= late < len(opened) / 10, "the schedule holds for nearly every arrival"


def read_p50_away_from_the_pause(folder: Path, start: str) -> float:
    """The read p50 (ms, from `start`: t_intended_ns or t_start_ns) of reads sent more than
    AWAY_S before the pause began or after it ended."""
    rows, _ = load_requests(folder)
    fault = pd.read_csv(folder / "faults.csv").iloc[0]
    sent = rows["t_start_ns"]
    away = (sent < fault["started_ns"] - AWAY_S * 1e9) | (sent > fault["ended_ns"] + AWAY_S * 1e9)
    reads = rows[away & (rows["op"] == "read") & (rows["status"] == 200)]
    return float(((reads["t_end_ns"] - reads[start]) / 1e6).astype(float).median())


def test_without_the_stall_open_and_closed_loop_agree(runs: dict[str, Path]) -> None:
    opened = read_p50_away_from_the_pause(runs["open"], "t_intended_ns")
    closed = read_p50_away_from_the_pause(runs["closed"], "t_start_ns")
    assert 1 / 1.5 <= opened / closed <= 1.5, (opened, closed)
