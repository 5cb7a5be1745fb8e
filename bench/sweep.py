"""`bench sweep`: one matrix of short runs (strategy x TTL x replicas x repeat) in one folder.

The matrix is data: `SweepConfig` lists the values, `expand_matrix` is the one place that
turns them into cells. Each cell is an ordinary single-strategy run made by
`run_experiment` into `cells/<cell-id>/`, so a cell is analysed and reported by the very
code of `bench run`. The sweep folder adds `run.json` (kind "sweep": the matrix and each
cell's status) and, derived from the cells, `summary.csv` (one row per complete cell),
`report.md` and `report.html`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.experiment import RunOutcome, console, run_experiment
from bench.manifest import Manifest, create_run_folder, utc_now
from bench.redis_server import redis_server_version
from bench.run_config import ConfigError, RunConfig
from bench.sweep_report import SWEEP_KIND, analyse_sweep
from bench.tune import Budget

CELLS = "cells"
# A cell ran to its end: measured, or refused by verify (which is a finding, not a fault).
FINISHED = ("complete", "failed_verify")


@dataclass(frozen=True)
class Cell:
    """One point of the matrix: a single-strategy run of `duration_s` seconds."""

    strategy: str
    ttl_s: float
    replicas: int
    repeat: int

    @property
    def id(self) -> str:
        """The cell's folder name, e.g. `pubsub-ttl5-n2-r0`; unique within a sweep."""
        return f"{self.strategy}-ttl{self.ttl_s:g}-n{self.replicas}-r{self.repeat}"

    @property
    def label(self) -> str:
        return f"{self.strategy} ttl={self.ttl_s:g} replicas={self.replicas} repeat={self.repeat}"


@dataclass(frozen=True)
class SweepConfig:
    """The matrix and what every cell shares.

    `base` carries the shared parameters (strategies, scenario, duration, users, rate,
    seed, ...); its own `ttl_s` and `replicas` are ignored, each cell sets its own.
    `budget`, if any, is what the tuner checks the finished sweep against.
    """

    base: RunConfig
    ttls_s: tuple[float, ...]
    replicas: tuple[int, ...]
    repeats: int = 1
    budget: Budget | None = None

    def __post_init__(self) -> None:
        for option, values, low in [
            ("--ttls", self.ttls_s, 0.001),
            ("--replicas", self.replicas, 1),
        ]:
            if not values:
                raise ConfigError(f"{option}: give at least one value")
            if any(v < low for v in values):
                raise ConfigError(f"{option}: every value must be at least {low}, got {values}")
            if len(set(values)) != len(values):
                raise ConfigError(f"{option}: a value is listed twice")
        if self.repeats < 1:
            raise ConfigError(f"--repeats must be at least 1, got {self.repeats}")

    def cell_config(self, cell: Cell, folder: Path) -> RunConfig:
        """The run config of one cell (validated again by RunConfig)."""
        return dataclasses.replace(
            self.base,
            strategies=(cell.strategy,),
            ttl_s=cell.ttl_s,
            replicas=cell.replicas,
            results=folder / CELLS,
        )

    def as_json(self) -> dict[str, Any]:
        shared = {k: v for k, v in self.base.as_json().items() if k not in ("ttl_s", "replicas")}
        return shared | {
            "ttls_s": list(self.ttls_s),
            "replicas": list(self.replicas),
            "repeats": self.repeats,
            "max_stale_ms": self.budget.max_stale_ms if self.budget else None,
            "min_hit_ratio": self.budget.min_hit_ratio if self.budget else None,
        }


def expand_matrix(config: SweepConfig) -> list[Cell]:
    """Every cell, in the order they run: repeat-major.

    A whole pass over strategies x TTLs x replicas runs before the next repeat, so a slow
    drift of the machine (heat, a neighbour's load) spreads over every strategy instead of
    biasing the one measured last, and an interrupted sweep holds whole passes.
    """
    return [
        Cell(strategy, ttl_s, replicas, repeat)
        for repeat in range(config.repeats)
        for strategy in config.base.strategies
        for ttl_s in config.ttls_s
        for replicas in config.replicas
    ]


@dataclass(frozen=True)
class SweepOutcome:
    folder: Path
    status: str
    exit_code: int


def run_sweep(config: SweepConfig, redis_binary: Path) -> SweepOutcome:
    """Run every cell in turn, then write the sweep's summary and report.

    Ctrl-C marks the running cell and the sweep `interrupted` and stops at once (exit
    130); a cell whose harness fails is marked `failed` and the sweep goes on with the
    next one, then ends `failed` (exit 1) with what it has.
    """
    cells = expand_matrix(config)
    folder = create_run_folder(config.base.results, f"{SWEEP_KIND}-{config.base.scenario}")
    manifest = Manifest(folder, config.as_json())
    del manifest.data["strategies"]  # a sweep's strategies live in its cells
    manifest.data |= {
        "kind": SWEEP_KIND,
        "redis_server": redis_server_version(redis_binary),
        "matrix": [dataclasses.asdict(cell) | {"id": cell.id} for cell in cells],
        "cells": {cell.id: {"status": "pending", "folder": f"{CELLS}/{cell.id}"} for cell in cells},
    }
    manifest.save()
    console.print(f"sweep folder: [bold]{folder}[/] ({len(cells)} cells)")
    records = manifest.data["cells"]
    cell = cells[0]
    try:
        for number, cell in enumerate(cells, 1):
            console.print(f"[bold]cell {number}/{len(cells)}:[/] {cell.label}")
            records[cell.id].update(status="running", started_at=utc_now())
            manifest.save()
            cell_folder = folder / CELLS / cell.id
            outcome = run_experiment(config.cell_config(cell, folder), redis_binary, cell_folder)
            records[cell.id].update(status=cell_status(outcome, cell), ended_at=utc_now())
            manifest.save()
            if outcome.status == "interrupted":  # the cell's Supervisor turned Ctrl-C into this
                raise KeyboardInterrupt
    except KeyboardInterrupt:  # also one that lands between cells or in a cell's analysis
        if records[cell.id]["status"] == "running":
            records[cell.id].update(status="interrupted", ended_at=utc_now())
        manifest.finish("interrupted", f"stopped by Ctrl-C (SIGINT) or SIGTERM at cell {cell.id}")
        console.print(f"[yellow]sweep interrupted[/]; finished cells are in {folder}")
        console.print(f"report on them with: python -m bench report {folder}")
        return SweepOutcome(folder, "interrupted", 130)
    failed = [cid for cid, r in records.items() if r["status"] not in FINISHED]
    refused = [cid for cid, r in records.items() if r["status"] == "failed_verify"]
    if failed:
        manifest.finish("failed", f"cells that failed: {', '.join(failed)}")
    else:
        reason = f"cells that failed verification: {', '.join(refused)}" if refused else None
        manifest.finish("complete", reason)
    with console.status("summarising the sweep"):
        markdown, html = analyse_sweep(folder)
    console.print(f"sweep report: [bold]{html}[/]  (and {markdown.name})")
    return SweepOutcome(folder, "failed" if failed else "complete", 1 if failed else 0)


def cell_status(outcome: RunOutcome, cell: Cell) -> str:
    """The run's status, or the strategy's own when the run completed (`failed_verify`)."""
    if outcome.status != "complete":
        return outcome.status
    manifest = json.loads((outcome.folder / "run.json").read_text())
    return manifest["strategies"].get(cell.strategy, {}).get("status", "complete")
