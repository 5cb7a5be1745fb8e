"""A sweep folder's derived files: `summary.csv` (one row per cell) and its report.

Each cell is a run folder of its own, analysed and reported by `bench.analysis` and
`bench.report`; this module concatenates the cells' summaries and writes the sweep's
report on top: the matrix, the tuner's verdict when the sweep had a budget, each figure
per strategy and TTL (mean ± 95% interval, marks where the intervals do not support a
ranking), the trade-off plots, and each cell's status with a link to its own report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.columns import COLUMNS, shown_in
from bench.analysis.repeats import FIGURES, aggregate, unsupported
from bench.analysis.summary import write_analysis
from bench.analysis.sweep_summary import sweep_summary
from bench.analysis.tables import read_table
from bench.analysis.tune import Budget, tune
from bench.disk import whole
from bench.layout import RunFolder
from bench.manifest import read_manifest
from bench.report.numbers import fmt_int, fmt_interval, fmt_ms, n_replicas
from bench.report.render import write_reports
from bench.report.run import STATUS_WARNINGS, build_report
from bench.report.setup import link_line
from bench.report.sweep_plots import sweep_plots
from bench.report.tuning import describe, recommendations, tuning_table

TITLES = {name: COLUMNS[name].title for name in shown_in("sweep")}
UNSUPPORTED = " ≈"  # the mark of a rank the 95% intervals do not support


def analyse_sweep(folder: Path) -> tuple[Path, Path]:
    """Write the sweep's summary.csv from its cells' summaries, then its report."""
    with whole(RunFolder(folder).summary) as aside:
        sweep_summary(folder).to_csv(aside, index=False)
    return build_sweep_report(folder)


def reanalyse_cells(folder: Path) -> None:
    """Every cell of a sweep (or of a run with repeats) analysed again from its raw files,
    its own report rebuilt."""
    for record in read_manifest(folder)["cells"].values():
        cell = RunFolder(folder / record["folder"])
        if cell.manifest.is_file():
            write_analysis(cell.path)
            build_report(cell.path)


def rebuild_sweep(folder: Path) -> tuple[Path, Path]:
    """`bench report` on a sweep: re-analyse every cell from its raw files, then the sweep."""
    reanalyse_cells(folder)
    return analyse_sweep(folder)


def budget_of(manifest: dict[str, Any]) -> Budget | None:
    config = manifest["config"]
    if config.get("max_stale_ms") is None:  # the tuner's budget needs its staleness limit
        return None
    return Budget.from_json(config)


def describe_sweep(manifest: dict[str, Any]) -> list[str]:
    """The matrix and what every cell shared, in words."""
    c, host, git = manifest["config"], manifest["host"], manifest["git"]
    rate = "unpaced" if c["rate"] is None else f"paced at {c['rate']:g} req/s"
    statuses = pd.Series([r["status"] for r in manifest["cells"].values()]).value_counts()
    commit = (git.get("commit") or "unknown")[:12] + (" (uncommitted changes)" * bool(git["dirty"]))
    return [
        f"Scenario {c['scenario']}: strategies {', '.join(c['strategies'])} x TTLs"
        f" {', '.join(f'{t:g}' for t in c['ttls_s'])} s x replicas"
        f" {', '.join(map(str, c['replicas']))} x {c['repeats']} repeat(s) ="
        f" {len(manifest['matrix'])} cells, run one after another, repeat by repeat.",
        cells_line(c, rate),
        *([line] if (line := link_line(c)) else []),
        "Cells: " + ", ".join(f"{n} {status}" for status, n in statuses.items()) + ".",
        f"Host: {host['cpus']} CPUs, {host['memory_bytes'] / 2**30:.1f} GiB memory,"
        f" {host['platform']}, Python {host['python']}; {manifest.get('redis_server') or '?'}.",
        f"Commit {commit}; started {manifest['started_at']}, ended {manifest['ended_at'] or '?'}.",
    ]


def cells_line(c: dict[str, Any], rate: str) -> str:
    """What every cell shared; a service the suite did not start has no origin delay of
    ours (run.json's is null), and every cell measured the same running replicas."""
    load = (
        f"{c['duration_s']:g} s under {c['users']} Locust users, {rate},"
        + ("" if c["origin_delay_ms"] is None else f" origin delay {c['origin_delay_ms']:g} ms,")
        + f" {c['products']:,} products in {c['categories']} categories, seed {c['seed']} in"
        " every cell (repeats differ only by timing)."
    )
    if c.get("runtime") == "external":
        return (
            f"Each cell measured the service as it runs at {', '.join(c.get('targets', []))}"
            f" (the suite started, seeded and configured none of it): {load}"
        )
    return f"Each cell a fresh single-strategy run (its own Redis, origin and replicas): {load}"


def figure_cell(row: pd.Series, figure: str, marked: bool) -> str:
    if figure.startswith("stale_age") and row["stale_reads"] == 0:
        return "none stale"
    return fmt_interval(figure, row[figure], row[f"{figure}_ci"]) + (UNSUPPORTED if marked else "")


def figure_tables(cells: pd.DataFrame) -> list[dict[str, Any]]:
    """Per figure: a row per strategy (and replica count), a column per TTL."""
    ttls = sorted(cells["ttl_s"].unique())
    several = cells["replicas"].nunique() > 1
    tables = []
    for figure in FIGURES:
        if cells[figure].isna().all():  # not measured by this sweep (older than the figure)
            continue
        marks = unsupported(cells, figure)
        rows = []
        for (strategy, replicas), group in cells.groupby(["strategy", "replicas"], sort=False):
            by_ttl = {row.ttl_s: figure_cell(row, figure, marks[i]) for i, row in group.iterrows()}
            rows.append(
                [
                    strategy,
                    *([str(replicas)] if several else []),
                    *(by_ttl.get(t, "-") for t in ttls),
                ]
            )
        columns = ["strategy", *(["replicas"] if several else []), *(f"TTL {t:g} s" for t in ttls)]
        tables.append({"title": TITLES[figure], "columns": columns, "rows": rows})
    return tables


def notes(cells: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    """What a reader needs to read the tables right, with this sweep's own figures."""
    out = []
    for replicas, rows in cells[cells["strategy"] == "ttl"].groupby("replicas", sort=False):
        ages = ", ".join(
            f"{'none' if r.stale_reads == 0 else fmt_ms(r.stale_age_p99_ms) + ' ms'} at TTL"
            f" {r.ttl_s:g} s"
            for r in rows.sort_values("ttl_s").itertuples()
        )
        out.append(
            f"ttl never invalidates, so only expiry ends its stale reads: its stale age"
            f" p99 should track the TTL, and at {n_replicas(replicas)} it was {ages}."
        )
    if max(config["ttls_s"]) > config["duration_s"]:
        out.append(
            f"A cell lasts {config['duration_s']:g} s, so no stale age can exceed that:"
            " at longer TTLs the measured stale ages are cut short by the run, not by"
            " the TTL."
        )
    out.append(
        "'none stale' means no read of the cell was stale: it meets any staleness"
        " budget, and means over repeats count it as 0 ms."
    )
    if config["rate"] is not None:
        out.append(
            f"The load was paced at {config['rate']:g} req/s, so requests/s shows whether"
            " the pacing held, not the ceiling; sweep with --rate max to see what"
            " invalidation fan-out costs in throughput as replicas are added."
        )
    if config["repeats"] > 1:
        out.append(
            f"Each figure is the mean of {config['repeats']} repeats ± the half-width of"
            f" its 95% confidence interval (Student's t).{UNSUPPORTED} marks a strategy"
            " whose interval overlaps the best strategy's at that TTL and replica count:"
            " these repeats do not support ranking them apart."
        )
    else:
        out.append(
            "One repeat per cell, so no intervals: a small difference between strategies"
            " may be noise; sweep with --repeats 3 to see which differences hold."
        )
    return out


def cell_rows(folder: Path, manifest: dict[str, Any], summary: pd.DataFrame) -> list[dict]:
    """Every cell of the matrix with its status, size and (if it has one) its report."""
    requests = dict(zip(summary.get("cell", []), summary.get("requests", []), strict=True))
    rows = []
    for cell in manifest["matrix"]:
        record = manifest["cells"][cell["id"]]
        has_report = RunFolder(folder / record["folder"]).report("md").is_file()
        rows.append(
            {
                "id": cell["id"],
                "status": record["status"],
                "requests": fmt_int(requests.get(cell["id"], math.nan)),
                "folder": record["folder"] if has_report else None,
            }
        )
    return rows


def sweep_context(folder: Path) -> tuple[dict[str, Any], pd.DataFrame, Budget | None]:
    """Everything both templates show, computed once; also the cells and budget, to plot."""
    manifest = read_manifest(folder)
    summary = read_table(RunFolder(folder).summary)
    cells = aggregate(summary) if not summary.empty else pd.DataFrame()
    budget = budget_of(manifest)
    tuning = tune(summary, budget) if budget and not summary.empty else None
    status, reason = manifest["status"], manifest.get("reason")
    warning = None
    if status != "complete":
        warning = STATUS_WARNINGS.get(status, f"This sweep has status {status}") + (
            f": {reason}." if reason else "."
        )
        warning = warning.replace("This run", "This sweep") + " Only complete cells are shown."
    return (
        {
            "title": f"Cache invalidation sweep: {manifest['config']['scenario']} ({folder.name})",
            "warning": warning,
            "status": status + (f" ({reason})" if reason and not warning else ""),
            "run_lines": describe_sweep(manifest),
            "budget": describe(budget) if budget else None,
            "folder_hint": str(folder),
            "tuning": tuning_table(tuning) if tuning else None,
            "recommendations": recommendations(tuning) if tuning else [],
            "tables": figure_tables(cells) if not cells.empty else [],
            "notes": notes(cells, manifest["config"]) if not cells.empty else [],
            "cells": cell_rows(folder, manifest, summary),
        },
        cells,
        budget,
    )


def build_sweep_report(folder: Path) -> tuple[Path, Path]:
    """Draw the trade-off plots and write the sweep's `report.md` and `report.html`."""
    context, cells, budget = sweep_context(folder)
    budget_ms = budget.max_stale_ms if budget else None
    plots = sweep_plots(folder, cells, budget_ms) if not cells.empty else []
    return write_reports(folder, "sweep_report", context, plots)
