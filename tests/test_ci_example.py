"""The CI example (examples/ci/bench-job.sh, docs/ci.md) run as a pipeline would run it,
against real replicas of the example shop that the test starts: contract, run, check, and
the exit code a pipeline acts on."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "examples" / "ci" / "bench-job.sh"
VENV_BIN = ROOT / ".venv" / "bin"

pytestmark = [pytest.mark.run, pytest.mark.harness]  # asserts what the job does, not figures


def job(results: Path, targets: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The job as a CI system runs it: settings in the environment, cache-bench on PATH."""
    env = os.environ | {
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "TARGETS": targets, "PROBE_IDS": "201-208",
        "PRODUCTS": "200", "CATEGORIES": "5", "LABEL": "shop", "DURATION": "3",
        "RESULTS": str(results), **settings,
    }  # fmt: skip
    return subprocess.run(["bash", str(JOB)], env=env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip


def test_the_job_holds_a_budget_then_breaks_a_tighter_one_against_its_baseline(
    shop: list[str], tmp_path: Path
) -> None:
    results = tmp_path / "results"
    first = job(results, ",".join(shop), MAX_STALE_MS="1000")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    run = Path((results / "latest").read_text().strip())
    assert (run / "report.html").is_file() and (run / "summary.json").is_file()
    assert "shop: staleness p99 " in first.stdout
    assert "against --max-stale-ms 1000: holds" in first.stdout
    assert "## Decision" in (run / "report.md").read_text()

    second = job(results, ",".join(shop), MAX_STALE_MS="1000", MIN_HIT_RATIO="0.999",
                 BASELINE=str(run), TOLERANCE="0.5")  # fmt: skip
    assert second.returncode == 1, second.stdout[-2000:] + second.stderr[-2000:]
    lines = second.stdout.splitlines()
    assert any(line.startswith("shop: hit ratio ") and "against --min-hit-ratio 0.999: BREAKS"
               in line for line in lines)  # fmt: skip
    assert any("against the baseline's" in line for line in lines)
    rerun = Path((results / "latest").read_text().strip())
    assert rerun != run and (rerun / "summary.json").is_file()


def test_a_bad_target_fails_the_job_with_exit_2_in_one_line(tmp_path: Path) -> None:
    done = job(tmp_path / "results", "not-a-url")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "not-a-url" in line
    assert not (tmp_path / "results" / "latest").exists(), "nothing ran"
