"""A read replica that lags, for real: the suite's own PostgreSQL primary and a streaming
replica 200 ms behind, the `replica_lag` scenario, and the issue's known answers.

One run of four strategies (2 replicas, 8 s each). `delete` puts the replica's old row
back in the cache, where it outlives the lag many times over; `double-delete` bounds
that by its second delete; `guarded` never caches a row older than the write's floor
(stale reads from the origin itself remain: the replica is behind); `marker` reads the
primary on a miss within its marker's life.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

# starts real runs (make test-fast leaves it out) on the suite's PostgreSQL (make test-replication)
pytestmark = [pytest.mark.run, pytest.mark.replication]

LAG_MS = 200.0
DOUBLE_DELETE_DELAY_MS = 500.0
RUN = [sys.executable, "-m", "bench", "run", "--scenario", "replica_lag", "--replicas", "2"]


@pytest.fixture(scope="module")
def lagging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("replica-lag")
    done = subprocess.run([*RUN, "--strategies", "delete,double-delete,guarded,marker",
                           "--duration", "8", "--results", str(results)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [folder] = list(results.iterdir())
    return folder


def summary(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "summary.csv").set_index("strategy")


def test_the_scenario_brings_a_postgres_origin_with_a_lagging_replica(lagging: Path) -> None:
    config = json.loads((lagging / "run.json").read_text())["config"]
    assert (config["origin"], config["origin_lag_ms"]) == ("postgres", LAG_MS)
    lag = summary(lagging)["origin_lag_ms_p50"]
    assert lag.between(0.75 * LAG_MS, 1.25 * LAG_MS).all(), lag
    assert "## Replication" in (lagging / "report.md").read_text()


def test_delete_puts_the_old_row_back_and_it_outlives_the_lag(lagging: Path) -> None:
    delete = summary(lagging).loc["delete"]
    assert delete["stale_reads_cached"] > 0
    assert delete["stale_age_cached_max_ms"] >= 5 * LAG_MS


def test_double_delete_bounds_the_stale_refill_by_its_delay(lagging: Path) -> None:
    oldest = summary(lagging).loc["double-delete", "stale_age_max_ms"]
    assert pd.isna(oldest) or oldest <= DOUBLE_DELETE_DELAY_MS + LAG_MS + 300


def test_guarded_never_caches_what_the_replica_had_not_caught_up_on(lagging: Path) -> None:
    guarded = summary(lagging).loc["guarded"]
    oldest = guarded["stale_age_cached_max_ms"]
    assert pd.isna(oldest) or oldest <= LAG_MS + 300
    assert guarded["stale_reads_origin"] > 0  # the replica itself is behind: said, not hidden


def test_marker_keeps_stale_reads_down_and_the_hits_up(lagging: Path) -> None:
    table = summary(lagging)
    marker, delete = table.loc["marker"], table.loc["delete"]
    assert marker["stale_reads"] <= delete["stale_reads"] / 5
    assert abs(marker["hit_ratio"] - delete["hit_ratio"]) <= 0.05


def test_a_lag_needs_the_postgres_origin(tmp_path: Path) -> None:
    done = subprocess.run([*RUN, "--origin", "sqlite", "--origin-lag-ms", "200",
                           "--results", str(tmp_path)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--origin-lag-ms needs --origin postgres" in done.stderr


def test_no_postgres_binaries_is_one_line_and_no_folder(tmp_path: Path) -> None:
    env = {"BENCH_PG_BINDIR": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([*RUN, "--results", str(tmp_path / "results")], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "no PostgreSQL server binaries" in done.stderr
    assert not (tmp_path / "results").exists()
