"""A full disk, on a real one: a 3 MB tmpfs (needs root to mount; skipped elsewhere), and
/dev/full for a replica's own log.

Whoever finds no room (Locust writing its rows, the harness writing run.json, analysis,
the report), the run ends `failed` with one line naming the folder and "no space left",
no traceback, run.json saying so, no process left behind and no half-written report.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.disk import DiskFull, free_bytes
from bench.manifest import REPORT_NOT_WRITTEN, read_manifest, write_manifest
from bench.perf.analysis import synthetic_run
from tests.test_run import alive, descendants, run_folders

BENCH = [sys.executable, "-m", "bench"]
DISK_BYTES = 3 * 1024 * 1024


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs of our own, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs",
                           str(mount)], capture_output=True, text=True, timeout=30)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True, timeout=30)


def fill(disk: Path, leave: int = 0) -> Path:
    """A ballast file taking all but `leave` bytes of the disk (all of it: 0)."""
    ballast = disk / "ballast"
    chunk = b"\0" * 65536
    with ballast.open("ab") as f:
        while (free_bytes(disk) or 0) - leave > 0:
            try:
                f.write(chunk[: max(4096, min(len(chunk), (free_bytes(disk) or 0) - leave))])
                f.flush()
            except OSError:
                break
    return ballast


def one_failure_line(stderr: str, folder: Path) -> str:
    """The line that says the disk is full: exactly one, naming the folder; no traceback."""
    assert "Traceback" not in stderr, stderr
    said = [line for line in stderr.splitlines() if "no space left" in line]
    assert len(said) == 1, stderr
    assert str(folder) in said[0], stderr
    return said[0]


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_a_disk_that_fills_during_the_load_fails_the_run_in_one_line(
    disk: Path, tmp_path: Path
) -> None:
    """Before: rc 1, five tracebacks (81 lines), run.json and the strategy left `running`.
    The disk fills while Locust writes its rows, unpaced: the run stops there (not at the
    end of its 30 s), every process it started is gone."""
    fill(disk, leave=768 * 1024)
    results = disk / "results"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    harness = subprocess.Popen(
        [*BENCH, "run", "--strategies", "delete", "--replicas", "1", "--duration", "30",
         "--rate", "max", "--results", str(results)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    started, seen = time.monotonic(), set()
    try:
        while harness.poll() is None and time.monotonic() - started < 90:
            seen |= descendants(harness.pid)
            time.sleep(0.1)
        stdout, stderr = harness.communicate(timeout=30)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
    assert harness.returncode == 1, stderr
    assert len(seen) >= 4, "redis-server, a replica (and its worker), Locust, the probe"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in seen), "no process outlives the run"

    [folder] = run_folders(results)
    line = one_failure_line(stderr, folder)
    assert line == f"run failed: no space left on device in {folder} (during delete's load)"
    assert stdout.strip() == f"results: {folder} (failed)"
    manifest = read_manifest(folder)  # whole JSON, though the disk had no room for run.json.tmp
    assert (manifest["status"], manifest["reason"]) == ("failed", line.removeprefix("run failed: "))
    assert manifest["ended_at"]
    delete = manifest["strategies"]["delete"]
    assert (delete["status"], delete["reason"]) == ("failed", manifest["reason"])
    span = time.mktime(time.strptime(delete["ended_at"][:19], "%Y-%m-%dT%H:%M:%S")) - (
        time.mktime(time.strptime(delete["started_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    )
    assert span < 30, "stopped when the disk filled, not at the load's end"
    assert not list(folder.glob("*.tmp")) and not (folder / "report.html").exists()
    assert list((folder / "requests").glob("*.csv")), "the rows it could write are kept"
    assert list(scratch.iterdir()) == [], "the scratch folder is removed"


# 5,000 rows: analysis writes ~0.5 MB (Parquet copies, CSVs), the report ~0.6 MB (plots
# ~0.25 MB, report.html ~0.33 MB). The disk fills in the Parquet copies, or at report.html.
@pytest.mark.slow
@pytest.mark.parametrize("room", [96 * 1024, 800 * 1024], ids=["in-analysis", "in-report"])
def test_a_report_that_cannot_be_written_is_removed_and_run_json_says_so(
    room: int, disk: Path
) -> None:
    """Before: a 26-line traceback, status `complete`, report.html cut at 8,192 bytes."""
    folder = disk / "results" / "20250101T000000Z-read_mostly"
    synthetic_run(folder, 5_000)
    before = read_manifest(folder)
    ballast = fill(disk, leave=room)
    done = subprocess.run([*BENCH, "report", str(folder)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 1, done.stderr
    line = one_failure_line(done.stderr, folder)
    assert line == (f"cache-bench report: error: no space left on device in {folder}"
                    " (the analysis and report were not written)")  # fmt: skip
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    left = {p.name for p in folder.iterdir()}
    assert left == {"run.json", "requests"}, "nothing derived is left, whole or in part"
    assert not [p for p in (folder / "requests").iterdir() if p.suffix in (".part", ".tmp")]
    after = read_manifest(folder)
    assert after["report"] == REPORT_NOT_WRITTEN
    assert {k: v for k, v in after.items() if k != "report"} == before, "the run's own word"

    ballast.unlink()  # room again: the report is rebuilt whole and the note goes
    done = subprocess.run([*BENCH, "report", str(folder)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (folder / "report.html").read_text().rstrip().endswith("</html>")
    assert "report" not in read_manifest(folder)


def test_run_json_is_rewritten_in_place_when_no_new_file_fits(disk: Path) -> None:
    folder = disk / "run"
    folder.mkdir()
    data = {"schema_version": 1, "status": "running", "reason": None, "strategies": {}}
    write_manifest(folder, data)
    fill(disk)
    with pytest.raises(OSError):
        (disk / "another").write_text("x" * 8192)
    data |= {"status": "failed", "reason": "no space left on device in " + str(folder)}
    with pytest.raises(DiskFull, match=r"writing run\.json"):
        write_manifest(folder, data)
    assert json.loads((folder / "run.json").read_text()) == data
    assert [p.name for p in folder.iterdir()] == ["run.json"], "no run.json.tmp left"


async def test_a_replica_whose_invalidation_log_finds_no_room_still_answers(
    redis_url: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """/dev/full answers every write with ENOSPC: the write it recorded was a 503 ("origin
    unavailable"); the log stops, said once, and the write answers 200."""
    from tests.conftest import replica

    async with replica("delete", redis_url, database_url,
                       invalidation_log="/dev/full") as client:  # fmt: skip
        for price in (2.0, 3.0):
            written = await client.patch("/products/3", json={"price": price})
            assert written.status_code == 200, written.text
    said = [r.getMessage() for r in caplog.records if "invalidation log" in r.getMessage()]
    assert said == ["invalidation log /dev/full stops: [Errno 28] No space left on device"]
