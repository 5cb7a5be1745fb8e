"""`python -m bench --help` is the map of the tool: every command's help must render."""

import subprocess
import sys

import pytest

COMMANDS = ["seed", "run", "report", "compare", "perf-service", "sweep", "tune"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_renders(command: str | None) -> None:
    argv = [sys.executable, "-m", "bench", *([command] if command else []), "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    if command is None:
        for name in COMMANDS:
            assert name in done.stdout
