"""`cache-bench ARGS` run in the test's own process: the command's own code, its exit code
and what it printed, without a new interpreter's start-up (a second or two each, which
the fast tests cannot afford). Tests that need the installed script itself run it."""

import contextlib
import io
import signal
import subprocess
from typing import Any

from bench.cli import main


def cache_bench(*args: Any) -> subprocess.CompletedProcess[str]:
    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    sigterm = signal.getsignal(signal.SIGTERM)  # main() installs its own: put pytest's back
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own refusals
            code = int(exc.code or 0)
        finally:
            signal.signal(signal.SIGTERM, sigterm)
    return subprocess.CompletedProcess(["cache-bench", *argv], code, out.getvalue(),
                                       err.getvalue())  # fmt: skip
