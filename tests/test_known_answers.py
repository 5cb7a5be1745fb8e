"""Known answers on a real short run: the figures must say what the strategies are.

Bounds are loose on purpose (the machine is shared and small): each check separates
expiry from invalidation by orders of magnitude, not by a tuned threshold.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.run  # starts real runs: make test-fast leaves it out

TTL_S = 2.0
# A stale read's age can exceed the TTL by the time its fill took (the read/write race):
# the entry lives TTL from its SET, which comes after the origin read it holds.
FILL_MARGIN_MS = 500.0


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--strategies", "ttl,delete,pubsub",
         "--scenario", "update_heavy", "--replicas", "2", "--duration", "8",
         "--ttl", str(TTL_S), "--rate", "150", "--users", "10", "--results", str(results)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    return folder


@pytest.fixture(scope="module")
def summary(run_folder: Path) -> pd.DataFrame:
    return pd.read_csv(run_folder / "summary.csv").set_index("strategy")


def test_summary_counts_every_recorded_row(run_folder: Path, summary: pd.DataFrame) -> None:
    manifest = json.loads((run_folder / "run.json").read_text())
    for strategy, record in manifest["strategies"].items():
        assert summary.loc[strategy, "requests"] == record["rows_recorded"]


def test_ttl_staleness_is_bounded_by_the_ttl(summary: pd.DataFrame) -> None:
    ttl = summary.loc["ttl"]
    assert ttl["stale_reads"] > 0, "writes under a TTL-only cache leave stale reads"
    assert ttl["stale_age_max_ms"] <= TTL_S * 1000 + FILL_MARGIN_MS


def test_delete_is_far_fresher_than_ttl(summary: pd.DataFrame) -> None:
    assert summary.loc["delete", "stale_read_ratio"] < summary.loc["ttl", "stale_read_ratio"] / 10


def test_pubsub_converges_in_milliseconds(summary: pd.DataFrame) -> None:
    pubsub = summary.loc["pubsub"]
    assert pubsub["probe_cycles"] >= 10
    assert pubsub["probe_censored"] == 0
    assert pubsub["probe_convergence_p50_ms"] < 50, "a few ms, against a 2,000 ms TTL"
    assert summary.loc["ttl", "probe_convergence_p50_ms"] > 500, "ttl converges by expiry"


def test_report_is_built(run_folder: Path) -> None:
    html = (run_folder / "report.html").read_text()
    for strategy in ("ttl", "delete", "pubsub"):
        assert strategy in html
    assert (run_folder / "report.md").is_file()
