"""`bench sweep`: one matrix of short runs (strategy x TTL x replicas x repeat) in one folder.

The matrix is data (`bench.matrix`). Each cell is an ordinary single-strategy run made by
`run_experiment` into `cells/<cell-id>/` on the sweep's runtime, so a cell is measured,
analysed and reported by the very code of `bench run`. The sweep folder adds `run.json`
(kind "sweep": the matrix and each cell's status) and, derived from the cells,
`summary.csv` (one row per complete cell), `report.md` and `report.html`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from bench.console import console, say
from bench.disk import DiskFull, as_disk_full, discard_derived, no_space, raise_if_full
from bench.experiment import RunOutcome, interrupted_exit_code, interruption, run_experiment
from bench.layout import RunFolder
from bench.manifest import (
    REPEATS_KIND,
    REPORT_NOT_WRITTEN,
    SWEEP_KIND,
    Manifest,
    create_run_folder,
    read_manifest,
    utc_now,
)
from bench.matrix import Cell, SweepConfig, expand_matrix
from bench.report.repeated import analyse_repeats
from bench.report.sweep import analyse_sweep
from bench.runtime.base import Runtime
from bench.runtime.signals import Interrupted, shielded

# A cell ran to its end: measured, or refused by verify (which is a finding, not a fault).
FINISHED = ("complete", "failed_verify")


@dataclass(frozen=True)
class SweepOutcome:
    folder: Path
    status: str
    exit_code: int


def run_sweep(config: SweepConfig, runtime: Runtime, kind: str = SWEEP_KIND) -> SweepOutcome:
    """Run every cell in turn, then write the sweep's summary and report.

    `kind` REPEATS_KIND makes it a run with repeats (`bench run --repeats`): the same
    cells and their order, in a folder named like a run's, summarised per strategy with
    intervals (`bench.report.repeated`).

    Ctrl-C or SIGTERM marks the running cell and the sweep `interrupted` and stops at once
    (exit 130 or 143); a cell whose harness fails is marked `failed` and the sweep goes on with the
    next one, then ends `failed` (exit 1) with what it has. A full disk ends it at once,
    `failed`, in one line: no cell after it could be written.
    """
    cells = expand_matrix(config)
    name = config.base.scenario if kind == REPEATS_KIND else f"{SWEEP_KIND}-{config.base.scenario}"
    folder = create_run_folder(config.base.results, name)
    sweep = RunFolder(folder)
    manifest = Manifest(folder, config.as_json())
    del manifest.data["strategies"]  # a sweep's strategies live in its cells
    manifest.data |= {
        "kind": kind,
        **runtime.facts(),
        "matrix": [
            dataclasses.asdict(cell)
            | {"id": cell.id, "variant": cell.variant, "options": dict(cell.options)}
            for cell in cells
        ],
        "cells": {
            cell.id: {"status": "pending", "folder": sweep.relative(sweep.cell(cell.id))}
            for cell in cells
        },
    }
    manifest.save()
    console.print(f"{'run' if kind == REPEATS_KIND else 'sweep'} folder: [bold]{folder}[/]"
                  f" ({len(cells)} cells)")  # fmt: skip
    records = manifest.data["cells"]
    cell = cells[0]
    try:
        for number, cell in enumerate(cells, 1):
            console.print(f"[bold]cell {number}/{len(cells)}:[/] {cell.label}")
            records[cell.id].update(status="running", started_at=utc_now())
            manifest.save()
            cell_config = config.cell_config(cell, folder)
            outcome = run_experiment(cell_config, runtime, sweep.cell(cell.id).path)
            records[cell.id].update(status=cell_status(outcome, cell), ended_at=utc_now())
            manifest.save()
            if outcome.status == "interrupted":  # the cell's Supervisor turned Ctrl-C into this
                raise Interrupted(outcome.exit_code - 128)
            if outcome.status == "failed":
                raise_if_full(folder, f"at cell {cell.id}")
    except KeyboardInterrupt as exc:  # also one that lands between cells or in a cell's analysis
        with shielded():
            if records[cell.id]["status"] == "running":
                records[cell.id].update(status="interrupted", ended_at=utc_now())
            manifest.finish("interrupted", f"stopped by {interruption(exc)} at cell {cell.id}")
        console.print(f"[yellow]sweep interrupted[/]; finished cells are in {folder}")
        console.print(f"report on them with: cache-bench report {folder}")
        return SweepOutcome(folder, "interrupted", interrupted_exit_code(exc))
    except (DiskFull, OSError) as exc:
        failure = as_disk_full(exc, folder)
        if failure is None:
            raise
        with shielded():
            if records[cell.id]["status"] == "running":
                records[cell.id].update(status="failed", ended_at=utc_now())
            manifest.finish("failed", str(failure))
        say("[red]sweep failed:[/]", str(failure))
        return SweepOutcome(folder, "failed", 1)
    failed = [cid for cid, r in records.items() if r["status"] not in FINISHED]
    refused = [cid for cid, r in records.items() if r["status"] == "failed_verify"]
    if failed:
        manifest.finish("failed", f"cells that failed: {', '.join(failed)}")
    else:
        reason = f"cells that failed verification: {', '.join(refused)}" if refused else None
        manifest.finish("complete", reason)
    try:
        with console.status("summarising the sweep"):
            markdown, html = (analyse_repeats if kind == REPEATS_KIND else analyse_sweep)(folder)
    except (DiskFull, OSError) as exc:
        if no_space(exc) is None:
            raise
        discard_derived(sweep)  # any of it may be partial
        failure = DiskFull(folder, "the sweep's summary and report were not written")
        with shielded():
            manifest.data["report"] = REPORT_NOT_WRITTEN
            manifest.finish("failed", str(failure))
        say("[red]sweep failed:[/]", str(failure))
        return SweepOutcome(folder, "failed", 1)
    said = "report" if kind == REPEATS_KIND else "sweep report"
    console.print(f"{said}: [bold]{html}[/]  (and {markdown.name})")
    return SweepOutcome(folder, "failed" if failed else "complete", 1 if failed else 0)


def cell_status(outcome: RunOutcome, cell: Cell) -> str:
    """The run's status, or the strategy's own when the run completed (`failed_verify`)."""
    if outcome.status != "complete":
        return outcome.status
    manifest = read_manifest(outcome.folder)
    return manifest["strategies"].get(cell.strategy, {}).get("status", "complete")


def sweep_plan(config: SweepConfig, runtime: Runtime, folder: Path) -> list[str]:
    """`bench sweep --dry-run`: each cell's commands under a comment naming it."""
    cells, sweep, lines = expand_matrix(config), RunFolder(folder), []
    for number, cell in enumerate(cells, 1):
        lines.append(f"# cell {number}/{len(cells)}: {cell.label}")
        lines += runtime.plan(config.cell_config(cell, folder), sweep.cell(cell.id))
    return lines
