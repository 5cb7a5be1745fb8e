"""Supervisor tests with real processes: whatever happens, nothing we started survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.runtime.ports import free_port
from bench.runtime.processes import ChildExitedError, Supervisor, log_tail
from bench.runtime.waiting import StartupTimeout, wait_http_ok

REPO_ROOT = Path(__file__).resolve().parents[1]


def pid_alive(pid: int) -> bool:
    """True if `pid` is a running process; a zombie counts as dead (it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] not in "ZX"


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll `condition` until true or `timeout_s` passes; the test's own bounded oracle."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def all_gone(*pids: int) -> bool:
    return wait_for(lambda: not any(pid_alive(pid) for pid in pids))


def group_members(pgid: int) -> list[int]:
    """Running processes whose process group is `pgid`."""
    members = []
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in "ZX":
            members.append(int(stat_path.parent.name))
    return members


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """PIDs a test started; at the end each one still running, and any group it leads, is
    SIGKILLed, so that a failing test (the supervisor did not clean up) leaks nothing."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        for leftover in {pid, *group_members(pid)}:
            if pid_alive(leftover):
                os.kill(leftover, signal.SIGKILL)


def test_children_are_stopped_on_normal_exit(tmp_path: Path, strays: list[int]) -> None:
    with Supervisor(grace_s=2) as sup:
        first = sup.start("first", ["sleep", "60"], tmp_path / "first.log")
        second = sup.start("second", ["sleep", "60"], tmp_path / "second.log")
        strays += [first.pid, second.pid]
        assert pid_alive(first.pid) and pid_alive(second.pid)
    assert all_gone(first.pid, second.pid)
    assert first.popen.returncode == second.popen.returncode == -signal.SIGTERM


def test_children_are_stopped_when_the_body_raises(tmp_path: Path, strays: list[int]) -> None:
    with pytest.raises(RuntimeError, match="boom"), Supervisor(grace_s=2) as sup:
        child = sup.start("sleeper", ["sleep", "60"], tmp_path / "sleeper.log")
        strays.append(child.pid)
        raise RuntimeError("boom")
    assert all_gone(child.pid)


def test_child_ignoring_sigterm_is_killed_after_grace(tmp_path: Path, strays: list[int]) -> None:
    log = tmp_path / "stubborn.log"
    script = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
    with Supervisor(grace_s=0.5) as sup:
        child = sup.start("stubborn", ["sh", "-c", script], log)
        strays.append(child.pid)
        # SIGTERM before the trap is set would kill it the easy way; wait for the trap.
        assert wait_for(lambda: "ready" in log_tail(log))
        started_stop = time.monotonic()
    stop_s = time.monotonic() - started_stop
    assert all_gone(child.pid)
    assert child.popen.returncode == -signal.SIGKILL
    assert 0.5 <= stop_s < 3


def test_the_whole_group_goes_including_grandchildren(tmp_path: Path, strays: list[int]) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    with Supervisor(grace_s=2) as sup:
        child = sup.start("shell", ["sh", "-c", script], tmp_path / "shell.log")
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
        grandchild = int(pid_file.read_text())
        strays += [child.pid, grandchild]
        assert pid_alive(grandchild)
    assert all_gone(child.pid, grandchild)


def test_grandchild_is_stopped_even_after_its_parent_exited(
    tmp_path: Path, strays: list[int]
) -> None:
    """The leader's exit must not end the supervisor's interest in its group."""
    pid_file = tmp_path / "orphan.pid"
    with Supervisor(grace_s=2) as sup:
        child = sup.start(
            "shell", ["sh", "-c", f"sleep 60 & echo $! > {pid_file}"], tmp_path / "shell.log"
        )
        assert wait_for(lambda: child.returncode is not None and pid_file.stat().st_size > 0)
        orphan = int(pid_file.read_text())
        strays.append(orphan)
        assert pid_alive(orphan)
    assert all_gone(orphan)


def test_stop_one_child_leaves_the_others_running(tmp_path: Path, strays: list[int]) -> None:
    with Supervisor(grace_s=2) as sup:
        replica = sup.start("replica", ["sleep", "60"], tmp_path / "replica.log")
        redis_like = sup.start("redis", ["sleep", "60"], tmp_path / "redis.log")
        strays += [replica.pid, redis_like.pid]
        sup.stop(replica)
        assert not pid_alive(replica.pid)
        assert pid_alive(redis_like.pid)
        sup.check_alive()  # a child we stopped on purpose is not a failure
    assert all_gone(redis_like.pid)


def test_check_alive_reports_name_exit_code_and_log(tmp_path: Path) -> None:
    with Supervisor(grace_s=2) as sup:
        child = sup.start("crasher", ["sh", "-c", "echo disk-on-fire; exit 5"], tmp_path / "c.log")
        assert wait_for(lambda: child.returncode is not None)
        with pytest.raises(ChildExitedError) as caught:
            sup.check_alive()
    assert caught.value.name == "crasher"
    assert caught.value.returncode == 5
    assert "disk-on-fire" in caught.value.log_tail
    assert "exited with code 5" in str(caught.value)


def test_wait_http_ok_fails_fast_with_log_tail_when_child_exits(tmp_path: Path) -> None:
    with Supervisor(grace_s=2) as sup:
        child = sup.start("app", ["sh", "-c", "echo cannot-bind; exit 3"], tmp_path / "app.log")
        started = time.monotonic()
        with pytest.raises(ChildExitedError, match="cannot-bind") as caught:
            wait_http_ok(f"http://127.0.0.1:{free_port()}/health", 20, child=child)
    assert time.monotonic() - started < 5  # did not wait out the 20 s timeout
    assert "exited with code 3" in str(caught.value)


def test_wait_http_ok_times_out_with_log_tail(tmp_path: Path, strays: list[int]) -> None:
    log = tmp_path / "silent.log"
    script = "echo still-warming-up; sleep 60"
    with Supervisor(grace_s=2) as sup:
        child = sup.start("silent", ["sh", "-c", script], log)
        strays.append(child.pid)
        assert wait_for(lambda: "still-warming-up" in log_tail(log))
        with pytest.raises(StartupTimeout, match="still-warming-up"):
            wait_http_ok(f"http://127.0.0.1:{free_port()}/health", 0.5, child=child)


def test_wait_http_ok_returns_once_the_server_answers(tmp_path: Path, strays: list[int]) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with Supervisor(grace_s=2) as sup:
        child = sup.start("http", [*argv, "--directory", str(tmp_path)], tmp_path / "http.log")
        strays.append(child.pid)
        wait_http_ok(f"http://127.0.0.1:{port}/", 10, child=child)


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "many.log"
    log.write_text("".join(f"line {n}\n" for n in range(30)))
    assert log_tail(log, lines=3) == "line 27\nline 28\nline 29"
    assert len(log_tail(log).splitlines()) == 20
    assert "no log" in log_tail(tmp_path / "missing.log")


# A harness in its own process, so that the test can send it real signals.
HARNESS = """
import sys, time
from pathlib import Path
from bench.runtime.processes import Supervisor

out, grace_s, script = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sup = Supervisor(grace_s=grace_s)
try:
    with sup:
        child = sup.start("child", ["sh", "-c", script], out / "child.log")
        (out / "child.pid").write_text(str(child.pid))
        while True:
            time.sleep(0.05)
except KeyboardInterrupt:
    print("interrupted", sup.interrupted)
    sys.exit(130)
"""


def start_harness(tmp_path: Path, grace_s: float, script: str) -> tuple[subprocess.Popen[str], int]:
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(tmp_path), str(grace_s), script],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = tmp_path / "child.pid"
    if not wait_for(lambda: pid_file.exists() and pid_file.stat().st_size > 0, 10):
        harness.kill()
        pytest.fail(f"harness did not start its child: {harness.communicate()}")
    return harness, int(pid_file.read_text())


def test_first_sigint_raises_keyboardinterrupt_and_tears_down(
    tmp_path: Path, strays: list[int]
) -> None:
    harness, child_pid = start_harness(tmp_path, grace_s=2, script="exec sleep 60")
    strays += [harness.pid, child_pid]
    harness.send_signal(signal.SIGINT)
    stdout, _ = harness.communicate(timeout=10)
    assert harness.returncode == 130
    assert "interrupted True" in stdout
    assert all_gone(child_pid)


def test_second_sigint_during_teardown_kills_at_once(tmp_path: Path, strays: list[int]) -> None:
    marker = tmp_path / "got-term"
    trapped = tmp_path / "trap-set"
    script = f"trap 'echo term >> {marker}' TERM; touch {trapped}; while :; do sleep 0.1; done"
    harness, child_pid = start_harness(tmp_path, grace_s=30, script=script)
    strays += [harness.pid, child_pid]
    # A SIGTERM before the shell has set its trap would simply kill it.
    assert wait_for(trapped.exists)
    harness.send_signal(signal.SIGINT)
    assert wait_for(marker.exists)  # teardown has begun and the child shrugged off SIGTERM
    sent_second = time.monotonic()
    harness.send_signal(signal.SIGINT)
    _, stderr = harness.communicate(timeout=10)
    assert time.monotonic() - sent_second < 3  # nowhere near the 30 s grace period
    assert harness.returncode == 130
    assert "second interrupt" in stderr
    assert all_gone(child_pid)


def test_never_signals_a_pid_it_did_not_start(tmp_path: Path, strays: list[int]) -> None:
    """A process outside the supervisor, even one started just before, survives it."""
    outsider = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        with Supervisor(grace_s=2) as sup:
            strays.append(sup.start("ours", ["sleep", "60"], tmp_path / "ours.log").pid)
        assert pid_alive(outsider.pid)
    finally:
        os.killpg(outsider.pid, signal.SIGKILL)
        outsider.wait(timeout=5)


CREDENTIALS = """
import ctypes, os
death = ctypes.c_int()
ctypes.CDLL(None).prctl(2, ctypes.byref(death))  # PR_GET_PDEATHSIG
print(os.getuid(), os.getgid(), ",".join(map(str, sorted(os.getgroups()))) or "-", death.value)
"""


@pytest.mark.skipif(os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
                    reason="switching user needs root, and a python the user may run")  # fmt: skip
def test_a_child_started_as_another_user_has_its_group_only_and_dies_with_us(
    tmp_path: Path,
) -> None:
    """A server that refuses root (PostgreSQL) runs as its user, in that user's group and
    no group of root's, and still gets the parent-death signal, armed after the switch."""
    import pwd

    record = pwd.getpwnam("postgres")
    log = tmp_path / "credentials.log"
    with Supervisor(trap_signals=False) as supervisor:
        child = supervisor.start("who", ["/usr/bin/python3", "-c", CREDENTIALS], log, cwd="/",
                                 user="postgres")  # fmt: skip
        child.popen.wait(timeout=30)
    uid, gid, groups, death = log.read_text().split()
    assert (int(uid), int(gid)) == (record.pw_uid, record.pw_gid)
    assert groups in ("-", str(record.pw_gid)), "none of root's groups"
    assert int(death) == signal.SIGKILL
