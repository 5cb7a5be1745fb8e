"""`bench perf-analysis` on a small run, so the scale benchmark keeps working; its
figures are printed, never asserted (performance is measured, not tested)."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.analysis.summary import write_analysis
from bench.perf.analysis import STRATEGIES, synthetic_run


def test_the_synthetic_run_has_a_runs_mix_and_stale_reads(tmp_path: Path) -> None:
    synthetic_run(tmp_path, 30_000)
    summary = write_analysis(tmp_path).summary.set_index("strategy")
    assert list(summary.index) == list(STRATEGIES)
    assert summary["requests"].sum() == 30_000
    assert (summary["writes"] > 0).all() and (summary["stale_reads"] > 0).all()
    assert (summary["list_stale_ratio"] > 0).all()


@pytest.mark.slow  # seconds of real processes: make test runs it, test-fast does not
def test_the_command_prints_one_line_per_size() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "perf-analysis", "--rows", "5000,8000"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["5,000", "8,000"]
    assert all("rows/s" in line and "GiB" in line for line in lines)


def test_a_run_built_csv_only_has_no_copies_and_the_same_summary(tmp_path: Path) -> None:
    synthetic_run(tmp_path / "copies", 20_000)
    synthetic_run(tmp_path / "csv", 20_000, copies=False)
    assert list((tmp_path / "copies" / "requests").glob("*.parquet"))
    assert not list((tmp_path / "csv" / "requests").glob("*.parquet"))
    summaries = [write_analysis(tmp_path / kind).summary for kind in ("copies", "csv")]
    pd.testing.assert_frame_equal(*summaries)
