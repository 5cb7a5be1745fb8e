"""`bench check` on stored runs (summary.json written from literal rows) and on a real short
run with repeats: exit 0 when the figures hold, 1 when any breaks, 2 on bad input, and lines
that name the figure, the limit and the verdict."""

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bench.report.summary_json import document, write_summary_json
from tests.cli_inproc import cache_bench

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "summary.schema.json").read_text())


def stored_run(folder: Path, rows: list[dict[str, Any]], kind: str = "run") -> Path:
    """A run folder holding only a summary.json, as `bench check` reads it."""
    folder.mkdir(parents=True)
    manifest = {"kind": kind, "status": "complete", "config": {"scenario": "read_mostly"}}
    words = {r["strategy"]: ("complete", None, "literal") for r in rows}
    write_summary_json(folder, document(manifest, rows, words, None))
    return folder


def row(name: str, hit: float, stale_p99: float, p99: float = 4.0, **ci: float) -> dict:
    figures = dict(strategy=name, hit_ratio=hit, read_staleness_p99_ms=stale_p99,
                   read_p99_ms=p99, origin_rps_mean=40.0, stale_read_ratio=0.001)  # fmt: skip
    repeats = {"repeats": 3} if ci else {}
    return figures | {f"{k}_ci": v for k, v in ci.items()} | repeats


def check(*args: Any) -> subprocess.CompletedProcess[str]:
    return cache_bench("check", *args)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return stored_run(tmp_path / "run", [row("delete", 0.85, 20.0), row("ttl", 0.95, 4_000.0)])


def test_summary_json_of_literal_rows_matches_its_schema(run: Path) -> None:
    jsonschema.validate(json.loads((run / "summary.json").read_text()), SCHEMA)


def test_a_budget_that_holds_exits_0(run: Path) -> None:
    done = check(run, "--max-stale-ms", 100, "--strategy", "delete")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "delete: staleness p99 20 ms against --max-stale-ms 100: holds",
        "1 of 1 hold",
    ]


def test_a_budget_that_breaks_exits_1_and_says_where(run: Path) -> None:
    done = check(run, "--max-stale-ms", 100, "--min-hit-ratio", 0.9)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert "delete: hit ratio 85.0% against --min-hit-ratio 0.9: BREAKS" in lines
    assert "ttl: staleness p99 4,000 ms against --max-stale-ms 100: BREAKS" in lines
    assert lines[-1] == "2 of 4 hold; 2 BREAK"


def test_with_repeats_the_unfavourable_end_is_judged_and_said(tmp_path: Path) -> None:
    repeated = stored_run(tmp_path / "r", [row("delete", 0.85, 90.0, read_staleness_p99_ms=15.0)])
    done = check(repeated, "--max-stale-ms", 100)
    assert done.returncode == 1
    assert done.stdout.startswith(
        "delete: staleness p99 105 ms (upper end of the 95% interval over 3 repeats)"
        " against --max-stale-ms 100: BREAKS"
    )


def test_a_baseline_breaks_beyond_the_tolerance(tmp_path: Path, run: Path) -> None:
    slower = stored_run(tmp_path / "slower", [row("delete", 0.85, 20.0, p99=4.6)])
    assert check(slower, "--baseline", run, "--tolerance", 0.2).returncode == 0
    done = check(slower, "--baseline", run, "--tolerance", 0.1)
    assert done.returncode == 1
    assert ("delete: read p99 4.6 ms against the baseline's read p99 4.0 ms; --tolerance 0.1"
            " allows 0.40 ms worse: BREAKS") in done.stdout.splitlines()  # fmt: skip


def test_a_baseline_with_repeats_allows_the_noise_they_show(tmp_path: Path) -> None:
    base = stored_run(tmp_path / "base", [row("delete", 0.85, 20.0, p99=4.0, read_p99_ms=0.5)])
    noisy = stored_run(tmp_path / "noisy", [row("delete", 0.85, 20.0, p99=4.8, read_p99_ms=0.5)])
    worse = stored_run(tmp_path / "worse", [row("delete", 0.85, 20.0, p99=5.2, read_p99_ms=0.1)])
    assert check(noisy, "--baseline", base).returncode == 0, "0.8 ms worse within 1.0 of noise"
    done = check(worse, "--baseline", base)
    assert done.returncode == 1 and "the 95% intervals allow 0.60 ms worse: BREAKS" in done.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "give a budget"),
        (["--max-stale-ms", "0"], "--max-stale-ms must be a positive number"),
        (["--min-hit-ratio", "2"], "--min-hit-ratio is a ratio in 0..1"),
        (["--max-stale-ms", "9", "--strategy", "nope"], "--strategy nope: not in"),
        (["--baseline", "/nowhere"], "--baseline /nowhere: no such folder"),
        (["--max-stale-ms", "9", "--tolerance", "-1"], "--tolerance"),
    ],
)
def test_bad_input_exits_2_in_one_line(run: Path, args: list[str], needle: str) -> None:
    done = check(run, *args)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert needle in line


def test_a_folder_without_summary_json_or_of_another_schema_exits_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = check(tmp_path / "empty", "--max-stale-ms", 9)
    assert done.returncode == 2 and "has no summary.json; run `cache-bench report" in done.stderr
    future = stored_run(tmp_path / "future", [row("delete", 0.8, 1.0)])
    doc = json.loads((future / "summary.json").read_text()) | {"schema_version": 99}
    (future / "summary.json").write_text(json.dumps(doc))
    done = check(future, "--max-stale-ms", 9)
    assert done.returncode == 2 and "schema_version 99" in done.stderr


@pytest.mark.run
@pytest.mark.harness  # asserts what a run with repeats writes, not its figures
def test_a_run_with_repeats_gives_intervals_everywhere_and_check_reads_them(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--repeats", "2", "--strategies", "delete,ttl",
         "--replicas", "1", "--duration", "3", "--rate", "150", "--users", "5",
         "--max-stale-ms", "100", "--results", str(results)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["kind"] == "repeats" and manifest["status"] == "complete"
    order = [cell["id"] for cell in manifest["matrix"]]
    assert [o.split("-")[0] for o in order] == ["delete", "ttl", "delete", "ttl"], "interleaved"

    summary = (folder / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    assert len(summary) == 3 and "hit_ratio_ci" in header and "repeats" in header
    hit_ci = float(summary[1].split(",")[header.index("hit_ratio_ci")])
    assert math.isfinite(hit_ci), "two repeats give an interval"
    assert len((folder / "repeats.csv").read_text().splitlines()) == 5

    doc = json.loads((folder / "summary.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["kind"] == "repeats" and doc["repeats"] == 2
    assert doc["strategies"][0]["figures"]["hit_ratio"]["ci95"] is not None
    assert doc["budget"]["pick"] == "delete", "ttl's reads stay stale up to its 30 s TTL"

    md = (folder / "report.md").read_text()
    assert md.index("## Decision") < md.index("## What was run")
    assert "Pick: delete" in md and " pp" in md and "± " in md
    for cell in order:
        assert (folder / "cells" / cell / "report.html").is_file()

    holds = check(folder, "--max-stale-ms", 100, "--strategy", "delete")
    assert holds.returncode == 0, holds.stdout + holds.stderr
    assert "(upper end of the 95% interval over 2 repeats)" in holds.stdout
    breaks = check(folder, "--max-stale-ms", 100)
    assert breaks.returncode == 1 and "ttl: staleness p99" in breaks.stdout

    compared = subprocess.run([sys.executable, "-m", "bench", "compare", folder, folder],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    assert "| B / A | beyond noise |" in compared.stdout and " ± " in compared.stdout
