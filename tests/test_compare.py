"""`bench compare`: two literal run folders, deltas worked out by hand."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from bench.report.compare import compare, write_compare
from tests.test_report import write_run_folder
from tests.test_sweep_report import literal_sweep


def cells(markdown: str, strategy: str, figure: str) -> list[str]:
    """The A, B, B - A and B / A cells of one figure of one strategy's block."""
    current = None
    for line in markdown.splitlines():
        if not line.startswith("| "):
            continue
        row = [cell.strip() for cell in line.strip("|").split("|")]
        current = row[0] or current
        if current == strategy and row[1] == figure:
            return row[2:]
    raise AssertionError(f"no row {strategy} / {figure}")


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    a = write_run_folder(tmp_path / "20250101T100000Z-read_mostly", ("ttl", "delete"))
    b = write_run_folder(
        tmp_path / "20250102T100000Z-read_mostly",
        ("delete", "pubsub"),
        figures={"delete": {"read_p99_ms": 4.75, "hit_ratio": 0.951, "rps": 290.0}},
    )
    data = json.loads((b / "run.json").read_text())
    data["config"]["users"] = 50
    data["git"] = {"commit": "fedcba9876543210fedcba9876543210fedcba98", "dirty": True}
    (b / "run.json").write_text(json.dumps(data))
    return a, b


def test_deltas_and_ratios(tmp_path: Path) -> None:
    text = compare(*two_runs(tmp_path))
    assert cells(text, "delete", "read p99 ms") == ["3.8", "4.8", "+0.95", "1.25x"]
    assert cells(text, "delete", "hit ratio") == ["94.1%", "95.1%", "+1 pp", "1.01x"]
    assert cells(text, "delete", "req/s") == ["300", "290", "-10", "0.97x"]
    # a figure that is zero in A has no ratio, and missing figures no delta
    assert cells(text, "delete", "errors") == ["0", "0", "0", "-"]
    assert cells(text, "delete", "local hit ratio") == ["0%", "0%", "0 pp", "-"]


def test_stale_by_design_is_compared_and_missing_in_an_older_summary(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    summary = pd.read_csv(b / "summary.csv").assign(stale_by_design_ratio=[0.0, 0.05])
    summary.to_csv(b / "summary.csv", index=False)
    text = compare(a, b)  # A's summary.csv predates the column
    assert cells(text, "delete", "stale by design") == ["-", "0%", "-", "-"]
    assert cells(text, "pubsub", "stale by design") == ["absent", "5.0%", "-", "-"]


def test_a_strategy_in_one_run_only_is_absent_on_the_other_side(tmp_path: Path) -> None:
    text = compare(*two_runs(tmp_path))
    assert cells(text, "ttl", "hit ratio") == ["96.2%", "absent", "-", "-"]
    assert cells(text, "pubsub", "hit ratio") == ["absent", "97.5%", "-", "-"]
    assert cells(text, "ttl", "probe convergence p99 ms") == ["> cap", "absent", "-", "-"]


def test_header_names_both_runs(tmp_path: Path) -> None:
    text = compare(*two_runs(tmp_path))
    assert text.startswith(
        "# Comparing 20250101T100000Z-read\\_mostly (A) with 20250102T100000Z-read\\_mostly (B)"
    )
    assert (
        "| A | 20250101T100000Z-read\\_mostly | read\\_mostly | 0123456789ab | complete |" in text
    )
    assert "| B | 20250102T100000Z-read\\_mostly | read\\_mostly | fedcba987654+dirty |" in text
    assert "Config differences: strategies: ttl, delete → delete, pubsub; users: 20 → 50." in text


def test_write_compare_defaults_into_b(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    path = write_compare(a, b)
    assert path == b / f"compare-{a.name}.md"
    assert path.read_text() == compare(a, b)
    other = write_compare(a, b, tmp_path / "out.md")
    assert other == tmp_path / "out.md" and other.exists()


def test_a_sweep_is_refused_with_one_line(tmp_path: Path) -> None:
    run, _ = two_runs(tmp_path)
    sweep = literal_sweep(tmp_path / "sweep", repeats=1)  # with its summary.csv
    for a, b in ((run, sweep), (sweep, run)):
        done = subprocess.run([sys.executable, "-m", "bench", "compare", str(a), str(b)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and f"{sweep} is a sweep" in done.stderr
    assert not list(run.glob("compare-*.md")) and not list(sweep.glob("compare-*.md"))
