"""How the harness meets signals: its own Ctrl-C and SIGTERM, and its own death.

`Interrupted` carries which signal stopped a run (exit 130 or 143); `shielded` lets the
few lines that record how a run ended finish under a further Ctrl-C; `die_with_parent`
makes every child the kernel's to kill if the harness dies without a word (SIGKILL).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

PR_SET_PDEATHSIG = 1  # prctl(2)
TRAPPED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where the harness was, so that teardown runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signum


def raise_interrupted(signum: int, frame: FrameType | None) -> None:
    """A signal handler for SIGINT and SIGTERM outside any supervisor: unwind, naming it."""
    raise Interrupted(signum)


@contextmanager
def shielded() -> Iterator[None]:
    """SIGINT and SIGTERM ignored for a few lines that must finish (saying how a run
    ended, removing its scratch folder): one more Ctrl-C there would leave run.json
    saying `running`. Only the main thread can set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.signal(signum, signal.SIG_IGN) for signum in TRAPPED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A `preexec_fn`: the child gets SIGKILL when the harness dies, however it dies.

    Linux only (prctl); elsewhere it does nothing. If the harness died between fork and
    prctl, the child would never be told, so it checks its parent and leaves itself.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return lambda: None

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return arm
