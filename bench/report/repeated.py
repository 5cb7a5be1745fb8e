"""The report of a run with repeats: the decision or trade-off, then every table of a run's
report with each figure as a mean ± its 95% half-width, where intervals overlap said, and a
link to each repeat's own full report (timeline, latency curves, faults).

Reads the cells' summaries only (`bench.analysis.repeated`); writes repeats.csv,
summary.csv, summary.json and the two reports into the run folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.columns import heading, shown_in
from bench.analysis.repeated import repeated_summary, repeats_table
from bench.analysis.repeats import unsupported
from bench.disk import whole
from bench.layout import RunFolder
from bench.manifest import read_manifest
from bench.report.decision import opening, recorded_budget
from bench.report.numbers import fmt_interval
from bench.report.render import write_reports
from bench.report.run import STATUS_WARNINGS, SUMMARY_TABLES, ordered_rows, verdict
from bench.report.summary_json import document, write_summary_json
from bench.report.sweep import describe_sweep, reanalyse_cells

Row = dict[str, Any]
# The catalogued latency figures: a repeated run has means of these, not of the
# percentiles `--percentiles` asks for, which each repeat's own report shows.
LATENCY = ("read_p50_ms", "read_p99_ms", "read_p999_ms", "read_max_ms", "read_server_p50_ms",
           "read_server_p99_ms", "write_p50_ms", "write_p99_ms")  # fmt: skip
NOT_SHOWN = " ≈"  # the mark of a figure whose lead over the best the intervals do not support


def analyse_repeats(folder: Path) -> tuple[Path, Path]:
    """repeats.csv and summary.csv from the repeats' summaries, then summary.json and the
    report."""
    run = RunFolder(folder)
    repeats = repeats_table(folder)
    with whole(run.repeats) as aside:
        repeats.to_csv(aside, index=False)
    with whole(run.summary) as aside:
        repeated_summary(repeats).to_csv(aside, index=False)
    return build_repeated_report(folder)


def rebuild_repeats(folder: Path) -> tuple[Path, Path]:
    """`bench report` on a run with repeats: every repeat re-analysed from its raw files."""
    reanalyse_cells(folder)
    return analyse_repeats(folder)


def interval_cell(row: Row, column: str, marks: dict[str, set[str]]) -> str:
    """`94.1% ± 0.32 pp`, then ≈ when its interval overlaps the best one's; a stale age
    where no repeat had a stale read is `none stale`, as the sweep report writes it."""
    if column.startswith("stale_age") and row.get("stale_reads") == 0:
        return "none stale"
    text = fmt_interval(column, row.get(column), row.get(f"{column}_ci", math.nan))
    return text + (NOT_SHOWN if row["strategy"] in marks.get(column, ()) else "")


def interval_tables(rows: list[Row], marks: dict[str, set[str]]) -> list[dict[str, Any]]:
    """The run report's tables, each figure `mean ± half-width`, ≈ where not shown apart."""
    speed, *rest = SUMMARY_TABLES
    return [
        {
            "title": title,
            "columns": ["strategy", *map(heading, columns)],
            "rows": [[r["strategy"], *(interval_cell(r, c, marks) for c in columns)] for r in rows],
        }
        for title, columns in (speed, ("Latency", LATENCY), *rest)
    ]


def overlap_marks(rows: list[Row]) -> dict[str, set[str]]:
    """Per figure with a better direction, the strategies whose interval overlaps the best's."""
    cells = pd.DataFrame(rows)
    marks: dict[str, set[str]] = {}
    tables = [*SUMMARY_TABLES, ("Latency", LATENCY)]
    for figure in {c for _, columns in tables for c in columns} | set(shown_in("sweep")):
        if figure not in cells or f"{figure}_ci" not in cells or cells[figure].isna().all():
            continue
        marked = unsupported(cells, figure)
        marks[figure] = set(cells.loc[marked, "strategy"])
    return marks


def overlap_sentences(marks: dict[str, set[str]], rows: list[Row]) -> list[str]:
    """The key figures where the intervals do not tell strategies apart, in words."""
    order = [r["strategy"] for r in rows]
    said = []
    for figure in shown_in("sweep"):
        names = [n for n in order if n in marks.get(figure, set())]
        if names:
            said.append(f"{heading(figure)}: the intervals of {', '.join(names)} overlap, so"
                        " their differences on it are not findings of this run.")  # fmt: skip
    return said


def repeat_links(folder: Path, manifest: dict[str, Any]) -> list[Row]:
    """Each repeat of each strategy: its status and, when written, its own report."""
    links = []
    for cell in manifest["matrix"]:
        record = manifest["cells"][cell["id"]]
        has_report = RunFolder(folder / record["folder"]).report("md").is_file()
        links.append({"id": cell["id"], "status": record["status"],
                      "folder": record["folder"] if has_report else None})  # fmt: skip
    return links


def words(folder: Path, manifest: dict[str, Any], rows: list[Row]) -> dict[str, tuple]:
    """(status, claim, verdict) per strategy: the claim from its first repeat's record, the
    verdict over its means, said as such."""
    claims, done = {}, {}
    for cell in manifest["matrix"]:
        record = manifest["cells"][cell["id"]]
        done.setdefault(cell["strategy"], []).append(record["status"] == "complete")
        path = RunFolder(folder / record["folder"]).manifest
        if cell["strategy"] not in claims and path.is_file():
            own = read_manifest(path.parent).get("strategies", {}).get(cell["strategy"], {})
            claims[cell["strategy"]] = own.get("claim")
    said = {}
    for row in rows:
        name, n = row["strategy"], int(row.get("repeats") or 1)
        complete = sum(done.get(name, []))
        status = "complete" if complete == len(done.get(name, [])) else f"partial ({complete} of"
        if status != "complete":
            status += f" {len(done[name])} repeats complete)"
        text = verdict(row, {"status": "complete", "claim": claims.get(name)})
        said[name] = (status, claims.get(name), f"Means over {n} repeats: {text}")
    return said


def build_repeated_report(folder: Path) -> tuple[Path, Path]:
    manifest = read_manifest(folder)
    rows = ordered_rows(folder, manifest)
    budget = recorded_budget(manifest)
    said = words(folder, manifest, rows)
    write_summary_json(folder, document(manifest, rows, said, budget))
    marks = overlap_marks(rows)
    status, reason = manifest["status"], manifest.get("reason")
    warning = None
    if status != "complete":
        warning = (
            STATUS_WARNINGS.get(status, f"This run has status {status}")
            + (f": {reason}." if reason else ".")
            + " Only complete repeats are counted."
        )
    config = manifest["config"]
    context = {
        "title": f"Cache invalidation: {config['scenario']} x {config['repeats']} repeats"
        f" ({folder.name})",
        "opening": opening(rows, budget, folder),
        "warning": warning,
        "status": status + (f" ({reason})" if reason and not warning else ""),
        "run_lines": [line.replace("cells", "measurements") for line in describe_sweep(manifest)],
        "repeats": config["repeats"],
        "tables": interval_tables(rows, marks) if rows else [],
        "overlaps": overlap_sentences(marks, rows),
        "verdicts": [(name, said[name][2]) for name in said],
        "links": repeat_links(folder, manifest),
    }
    return write_reports(folder, "repeated_report", context, [])
