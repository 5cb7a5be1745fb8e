"""`cache-bench --help` is the map of the tool: every command's help must render, through
`python -m bench` and through the installed console script alike, which is the same program."""

import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ["seed", "run", "report", "compare", "perf-service", "sweep", "tune"]
# `make install` puts it beside the interpreter that runs the tests (pyproject's [project.scripts])
CONSOLE_SCRIPT = Path(sys.executable).with_name("cache-bench")


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_renders(command: str | None) -> None:
    argv = [sys.executable, "-m", "bench", *([command] if command else []), "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: cache-bench" in done.stdout
    if command is None:
        for name in COMMANDS:
            assert name in done.stdout


def test_the_installed_console_script_is_the_map_of_the_tool() -> None:
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT}: run `make install`"
    done = subprocess.run([CONSOLE_SCRIPT, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cache-bench ")
    assert all(name in done.stdout for name in COMMANDS)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--duration", "soon"], "argument --duration: invalid float value: 'soon'"),
        (["run", "--strategies", "nosuch"], "--strategies: unknown nosuch"),  # a UsageError
    ],
    ids=["argparse", "usage-error"],
)
def test_the_console_script_refuses_bad_input_with_exit_2_and_one_line(
    args: list[str], says: str, tmp_path: Path
) -> None:
    done = subprocess.run([CONSOLE_SCRIPT, *args, "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("cache-bench run: error: ") and says in done.stderr
    assert not any(tmp_path.iterdir()), "nothing is created before the input is checked"
