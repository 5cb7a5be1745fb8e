"""The sweep report from a literal sweep folder: a hand-written summary.csv, no services."""

import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.sweep_summary import SWEEP_COLUMNS, sweep_summary
from bench.report.sweep import build_sweep_report, describe_sweep
from tests.test_tune import row

STRATEGIES = ("ttl", "delete", "pubsub")
TTLS = (1.0, 5.0, 30.0)
# (hit ratio, stale age and read staleness p99 ms) per strategy and TTL; the three repeats
# add -0.01, 0, +0.01
FIGURES = {
    "ttl": {1.0: (0.60, 950.0), 5.0: (0.80, 4_700.0), 30.0: (0.95, 18_000.0)},
    "delete": {1.0: (0.55, 2.0), 5.0: (0.75, 8.0), 30.0: (0.90, 400.0)},
    "pubsub": {1.0: (0.61, 1.0), 5.0: (0.81, 1.5), 30.0: (0.94, float("nan"))},
}


def sweep_manifest(repeats: int, status: str = "complete") -> dict[str, Any]:
    """A sweep's run.json as `bench.sweep.run_sweep` writes it, schema 1."""
    matrix = [
        {"strategy": s, "ttl_s": t, "replicas": 2, "repeat": r, "id": f"{s}-ttl{t:g}-n2-r{r}"}
        for r in range(repeats) for s in STRATEGIES for t in TTLS
    ]  # fmt: skip
    return {
        "schema_version": 1, "kind": "sweep", "status": status,
        "reason": "stopped by Ctrl-C during cell x" if status != "complete" else None,
        "config": {"strategies": list(STRATEGIES), "scenario": "read_mostly", "duration_s": 20.0,
                   "users": 20, "rate": 300.0, "origin_delay_ms": 0.0, "products": 1000,
                   "categories": 10, "seed": 1, "locust_workers": 0, "poll_ms": 2.0,
                   "runtime": "local", "results": "results", "ttls_s": list(TTLS),
                   "replicas": [2], "repeats": repeats, "max_stale_ms": 100.0,
                   "min_hit_ratio": None},
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "packages": {}, "host": {"cpus": 2, "memory_bytes": 8 * 2**30, "platform": "Linux",
                                 "python": "3.11.7"},
        "started_at": "2026-01-01T00:00:00.000+00:00", "ended_at": "2026-01-01T00:05:00.000+00:00",
        "redis_server": "Redis server v=7.0.15", "matrix": matrix,
        "cells": {c["id"]: {"status": "complete", "folder": f"cells/{c['id']}"} for c in matrix},
    }  # fmt: skip


def literal_sweep(folder: Path, repeats: int, status: str = "complete") -> Path:
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(sweep_manifest(repeats, status)))
    rows = [
        row(s, t, hit + (r - 1) * 0.01, stale, repeat=r) | {"cell": f"{s}-ttl{t:g}-n2-r{r}"}
        for r in range(repeats) for s in STRATEGIES for t, (hit, stale) in FIGURES[s].items()
    ]  # fmt: skip
    pd.DataFrame(rows).reindex(columns=list(SWEEP_COLUMNS)).to_csv(folder / "summary.csv")
    return folder


def test_report_with_repeats_marks_unsupported_ranks(tmp_path: Path) -> None:
    folder = literal_sweep(tmp_path / "sweep", repeats=3)
    markdown, html = build_sweep_report(folder)
    text = markdown.read_text()
    # hit ratio at TTL 1 s: pubsub 61% and ttl 60% (± 2.5 pp) overlap; delete 55% stands apart
    [ttl_row] = [line for line in text.splitlines() if line.startswith("| ttl | 60.0%")]
    assert "60.0% ± 2.5 pp ≈" in ttl_row
    [delete_row] = [line for line in text.splitlines() if line.startswith("| delete | 55.0%")]
    assert "55.0% ± 2.5 pp |" in delete_row
    assert "mean of 3 repeats" in text
    # the tuner: delete's stale age at 30 s is over budget, pubsub none stale at 30 s
    assert "recommendation: pubsub with TTL 30 s" in text
    assert "| delete | 2 | 5 s |" in text and "at TTL 30 s: staleness p99 400 ms" in text
    assert "| ttl | 2 | none |" in text
    assert (
        "its stale age p99 should track the TTL, and at 2 replicas it was 950 ms at TTL 1 s,"
        in text
    )
    assert "none stale" in text
    assert (folder / "plots" / "tradeoff_n2.png").is_file()
    assert '<img src="data:image/png;base64,' in html.read_text()


def test_report_with_one_repeat_has_no_marks_and_says_why(tmp_path: Path) -> None:
    folder = literal_sweep(tmp_path / "sweep", repeats=1)
    text = build_sweep_report(folder)[0].read_text()
    figures = text.split("## Figures per strategy and TTL")[1].split("## Plots")[0]
    assert "≈" not in figures and "±" not in figures
    assert "One repeat per cell, so no intervals" in text


def test_interrupted_sweep_warns_and_keeps_only_complete_cells(tmp_path: Path) -> None:
    folder = literal_sweep(tmp_path / "sweep", repeats=1, status="interrupted")
    manifest = json.loads((folder / "run.json").read_text())
    manifest["cells"]["pubsub-ttl30-n2-r0"]["status"] = "interrupted"
    (folder / "run.json").write_text(json.dumps(manifest))
    for cell in manifest["matrix"]:  # each cell's own summary row, as its analysis wrote it
        cell_folder = folder / "cells" / cell["id"]
        cell_folder.mkdir(parents=True)
        hit, stale = FIGURES[cell["strategy"]][cell["ttl_s"]]
        pd.DataFrame([row(cell["strategy"], cell["ttl_s"], hit, stale)]).drop(
            columns="repeat").to_csv(cell_folder / "summary.csv", index=False)  # fmt: skip
    summary = sweep_summary(folder)
    assert len(summary) == 8 and "pubsub-ttl30-n2-r0" not in set(summary["cell"])
    assert list(summary.columns) == list(SWEEP_COLUMNS)
    summary.to_csv(folder / "summary.csv", index=False)
    text = build_sweep_report(folder)[0].read_text()
    assert "This sweep was INTERRUPTED" in text and "Only complete cells are shown" in text
    assert "| pubsub-ttl30-n2-r0 | interrupted | - | - |" in text


def test_repeats_of_an_external_service_say_where_it_ran_without_an_origin_delay() -> None:
    """`run --runtime external --repeats N`: run.json's origin delay is null (the service's
    own, unknown here); describing the cells raised a TypeError on it."""
    manifest = sweep_manifest(2)
    targets = ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
    manifest["config"] |= {"runtime": "external", "origin_delay_ms": None, "targets": targets}
    [cells] = [line for line in describe_sweep(manifest) if line.startswith("Each cell")]
    assert cells.startswith(
        "Each cell measured the service as it runs at http://127.0.0.1:8001, http://127.0.0.1:8002"
    )
    assert "origin delay" not in cells and "1,000 products in 10 categories" in cells
    local = describe_sweep(sweep_manifest(2))
    assert any("its own Redis, origin and replicas" in line and "origin delay 0 ms" in line
               for line in local)  # fmt: skip
