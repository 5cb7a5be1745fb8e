"""`bench sweep`: the matrix as data, bad input, and a tiny real sweep end to end."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.faults.spec import parse_fault
from bench.matrix import SweepConfig, expand_matrix
from bench.run_config import ConfigError, RunConfig
from tests.test_run import interrupt_when, run_folders

SWEEP = [sys.executable, "-m", "bench", "sweep"]
# two TTLs, one strategy, a few seconds a cell: ~15 s in all
TINY = ["--strategies", "delete", "--ttls", "1,5", "--replicas", "2", "--duration", "3",
        "--rate", "100", "--users", "5"]  # fmt: skip


def test_matrix_is_every_combination_repeat_by_repeat() -> None:
    config = SweepConfig(RunConfig(strategies=("ttl", "pubsub")), (1.0, 30.0), (1, 4), repeats=2)
    cells = expand_matrix(config)
    assert len(cells) == 2 * 2 * 2 * 2
    assert len({c.id for c in cells}) == len(cells)
    assert [c.repeat for c in cells] == [0] * 8 + [1] * 8, "a whole pass before the next"
    assert cells[0].id == "ttl-ttl1-n1-r0" and cells[-1].id == "pubsub-ttl30-n4-r1"
    assert cells[5].label == "pubsub ttl=1 replicas=4 repeat=0"
    cell_config = config.cell_config(cells[5], Path("/tmp/sweep"))
    assert (cell_config.strategies, cell_config.ttl_s, cell_config.replicas) == (("pubsub",), 1, 4)
    assert config.as_json()["ttls_s"] == [1.0, 30.0] and "ttl_s" not in config.as_json()


@pytest.mark.parametrize(
    ("ttls", "replicas", "repeats", "needle"),
    [((), (2,), 1, "--ttls"), ((0.0, 5.0), (2,), 1, "--ttls"), ((5.0, 5.0), (2,), 1, "--ttls"),
     ((5.0,), (), 1, "--replicas"), ((5.0,), (0,), 1, "--replicas"),
     ((5.0,), (2,), 0, "--repeats"), ((1.0, math.nan), (2,), 1, "--ttls"),
     ((math.inf,), (2,), 1, "--ttls")],
)  # fmt: skip
def test_config_rejects_bad_matrices(
    ttls: tuple, replicas: tuple, repeats: int, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        SweepConfig(RunConfig(), ttls, replicas, repeats)


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--ttls", ""], "--ttls"), (["--ttls", "0,5"], "--ttls"), (["--ttls", "a,b"], "--ttls"),
     (["--strategies", "lru"], "--strategies"), (["--strategies", ""], "--strategies"),
     (["--replicas", "0"], "--replicas"), (["--repeats", "0"], "--repeats"),
     (["--duration", "0"], "--duration"), (["--min-hit-ratio", "0.9"], "--max-stale-ms")],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    done = subprocess.run([*SWEEP, *args, "--results", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert run_folders(tmp_path) == [], "nothing is started for bad input"


@pytest.mark.run
def test_tiny_sweep_one_row_per_cell(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run([*SWEEP, *TINY, "--max-stale-ms", "100", "--results", str(results)],
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "cell 1/2: delete ttl=1 replicas=2 repeat=0" in done.stderr
    assert "cell 2/2: delete ttl=5 replicas=2 repeat=0" in done.stderr
    assert "recommendation: delete with TTL" in done.stdout
    [folder] = run_folders(results)
    assert folder.name.endswith("-sweep-read_mostly")

    manifest = json.loads((folder / "run.json").read_text())
    assert (manifest["schema_version"], manifest["kind"], manifest["status"]) == (
        1,
        "sweep",
        "complete",
    )
    assert [c["id"] for c in manifest["matrix"]] == ["delete-ttl1-n2-r0", "delete-ttl5-n2-r0"]
    assert {r["status"] for r in manifest["cells"].values()} == {"complete"}
    for cell in manifest["matrix"]:
        cell_folder = folder / manifest["cells"][cell["id"]]["folder"]
        cell_manifest = json.loads((cell_folder / "run.json").read_text())
        assert cell_manifest["config"]["ttl_s"] == cell["ttl_s"]
        assert (cell_folder / "report.html").is_file()

    with (folder / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["strategy"], float(r["ttl_s"]), r["replicas"], r["repeat"]) for r in rows] == [
        ("delete", 1.0, "2", "0"), ("delete", 5.0, "2", "0")]  # fmt: skip
    assert all(int(r["requests"]) > 100 and r["cell"] for r in rows)
    report = (folder / "report.md").read_text()
    assert "## Recommendation" in report and "recommendation: delete with TTL" in report
    assert (folder / "plots" / "tradeoff_n2.png").is_file()

    (folder / "report.md").unlink()
    rebuilt = subprocess.run([sys.executable, "-m", "bench", "report", str(folder)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (folder / "report.md").read_text() == report
    tuned = subprocess.run([sys.executable, "-m", "bench", "tune", str(folder), "--max-stale-ms",
                            "100"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert tuned.returncode == 0 and "recommendation: delete with TTL" in tuned.stdout


@pytest.mark.run
def test_ctrl_c_marks_the_cell_and_the_sweep_interrupted(tmp_path: Path) -> None:
    results = tmp_path / "results"
    harness = subprocess.Popen(
        [*SWEEP, "--strategies", "delete", "--ttls", "1,5", "--replicas", "2",
         "--duration", "60", "--results", str(results)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def first_cell_loading() -> bool:
        cell = next(iter(results.glob("*/cells/delete-ttl1-n2-r0/run.json")), None)
        if cell is None:
            return False
        status = json.loads(cell.read_text())["strategies"].get("delete", {}).get("status")
        return status == "running"

    interrupt_when(harness, first_cell_loading, "the first cell's load to start")
    [folder] = run_folders(results)
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["ended_at"]
    cells = manifest["cells"]
    assert cells["delete-ttl1-n2-r0"]["status"] == "interrupted"
    assert cells["delete-ttl5-n2-r0"]["status"] == "pending"
    assert not (folder / "cells" / "delete-ttl5-n2-r0").exists(), "it stopped at once"


def test_every_cell_must_hold_the_faults_before_the_first_runs() -> None:
    faults = (parse_fault("replica-kill@5+2:2"),)
    with pytest.raises(ConfigError, match=r"replica-kill@5\+2:2: there are 1 replicas"):
        SweepConfig(RunConfig(faults=faults), (5.0,), (1, 2))


@pytest.mark.run
def test_origin_load_falls_as_the_ttl_grows(tmp_path: Path) -> None:
    """What the cache is for, seen from the database: `ttl` at 30 s reads the origin less
    often than at 1 s, in the same sweep (origin reads/s from the replicas' counters)."""
    results = tmp_path / "results"
    done = subprocess.run([*SWEEP, "--strategies", "ttl", "--ttls", "1,30", "--replicas", "2",
                           "--duration", "6", "--rate", "100", "--users", "5",
                           "--results", str(results)],
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    [folder] = run_folders(results)
    origin = pd.read_csv(folder / "summary.csv").set_index("ttl_s")["origin_rps_mean"]
    assert origin[30.0] < origin[1.0], origin
    assert "Origin reads/s, mean over 1 s windows" in (folder / "report.md").read_text()
