"""The run report: `F/report.md` and one self-contained `F/report.html` per run folder F.

It reads only analysis output (summary.csv, t_visibility.csv, latency_cdf.csv, probe/)
and run.json, never raw requests or a live system, so any stored run can be reported
again. Every number in the prose is taken from those files; this module only writes the
words around them. Both formats share one context, so they always say the same thing.
"""

import math
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.columns import heading, shown_in
from bench.analysis.tables import read_table
from bench.layout import RunFolder
from bench.manifest import read_manifest, strategy_order
from bench.report.decision import opening, recorded_budget
from bench.report.faults import fault_section
from bench.report.guide_notes import guide_notes, probe_phrase
from bench.report.latency import latency_table
from bench.report.libraries import library_notes
from bench.report.numbers import (
    fmt_figure,
    fmt_int,
    fmt_ms,
    fmt_pct,
    format_duration_ms,
    format_share,
    missing,
    positive,
)
from bench.report.plots import make_plots
from bench.report.render import write_reports
from bench.report.replication import replication_section
from bench.report.setup import clock_lines, describe_run, probe_warnings, unfresh_warnings
from bench.report.summary_json import document, write_summary_json
from bench.report.timing import timing_note, timing_table
from bench.report.write_visibility import whitebox_note, write_visibility_table

PLOT_CAPTIONS = {
    "read_latency": "Read latency tail: share of reads slower than x (log-log)",
    "hit_stale": "Hit ratio and stale-read ratio per strategy",
    "t_visibility": "t-visibility: share of reads fresh t after a write",
    "probe_convergence": "Probe convergence (upper bound) per strategy; censored counted",
    "origin_load": "Origin reads per second, all replicas of each strategy",
    "timeline": "Per second: requests, errors, stale reads and origin reads; faults shaded",
}
STATUS_WARNINGS = {
    "interrupted": "This run was INTERRUPTED before it finished",
    "failed": "This run FAILED",
    "running": "This run has no recorded end: it is still running, or its harness was killed",
}
Row = dict[str, Any]
# The summary in tables of at most eight figures each (`bench.analysis.columns.Place`): what
# it cost, then how right it was and how the probe saw it. The latency table, its columns
# the percentiles asked for, comes second (`bench.report.latency`).
SUMMARY_TABLES = (
    ("Throughput and hits", shown_in("speed")),
    ("Stale reads", shown_in("stale")),
    ("Probe convergence", shown_in("probe")),
    ("Probe bracket and white-box", shown_in("bracket")),
)


def summary_tables(rows: list[Row], latency: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary's tables (`SUMMARY_TABLES`, `latency` second), one row per strategy in
    `rows`' order."""
    speed, *rest = [
        {
            "title": title,
            "columns": ["strategy", *map(heading, columns)],
            # .get: a summary.csv written before a column existed still reports
            "rows": [[r["strategy"], *(fmt_figure(c, r.get(c)) for c in columns)] for r in rows],
        }
        for title, columns in SUMMARY_TABLES
    ]
    return [speed, latency, *rest]


def visibility_sentence(t_ms: float, fresh_share: float, reads: int) -> str:
    """One t-visibility figure in words, e.g. "99.9% of reads fresh 100 ms after a write"."""
    after = f"{format_duration_ms(t_ms)} after a write"
    if reads == 0 or math.isnan(fresh_share):
        return f"no reads {after}"
    if fresh_share >= 1.0:
        return f"all reads fresh {after}"
    return f"{format_share(fresh_share)} of reads fresh {after}"


def visibility_cell(points: pd.DataFrame, t: float) -> str:
    """`99.95% (3.3)`: share fresh and its nines; `100% (of 4,000)` when none was stale."""
    if t not in points.index or not points.at[t, "reads"] > 0:
        return "no reads"
    share, nines = points.at[t, "fresh_share"], points.at[t, "nines"]
    if math.isinf(nines):
        return f"100% (of {fmt_int(points.at[t, 'reads'])})"
    return f"{format_share(share)} ({nines:.1f})"


def nines_sentence(points: pd.DataFrame) -> str:
    """Each t in words, up to the first t from which every read was fresh."""
    points = points[points["reads"] > 0].sort_index()
    parts = []
    for t, row in points.iterrows():
        parts.append(visibility_sentence(t, row["fresh_share"], int(row["reads"])))
        if (points.loc[t:, "fresh_share"] >= 1).all():
            if t != points.index[-1]:
                parts[-1] += " and later"
            break
    return "; ".join(parts) or "no reads"


def visibility(vis: pd.DataFrame, order: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The t-visibility table (share fresh, nines) and one nines sentence per strategy."""
    ts = sorted(vis["t_ms"].unique())
    rows, sentences = [], []
    for name in [n for n in order if n in set(vis["strategy"])]:
        points = vis[vis["strategy"] == name].set_index("t_ms")
        rows.append([name, *(visibility_cell(points, t) for t in ts)])
        sentences.append(f"{name}: {nines_sentence(points)}.")
    header = [f"t = {format_duration_ms(t)}" for t in ts]
    return {"columns": ["strategy", *header], "rows": rows}, sentences


def verdict(row: Row | None, record: dict[str, Any]) -> str:
    """One plain-English line per strategy, every figure from summary.csv."""
    if row is None:
        status = record.get("status", "absent from the manifest")
        if status == "complete":
            return "completed, but summary.csv has no figures for it."
        why = f": {record['reason']}" if record.get("reason") else ""
        return f"not measured (status {status}{why})."
    parts = []
    # the reads the checker judged: a failed read (unparseable, unanswered) is neither
    # fresh nor stale (a summary.csv written before `reads_checked` counted all reads)
    checked = fmt_int(row.get("reads_checked", row["reads"]))
    if missing(row["stale_read_ratio"]):
        parts.append("staleness not analysed")
    elif row["stale_reads"] == 0:
        parts.append(f"no stale reads among {checked}")
    else:
        parts.append(
            f"{fmt_pct(row['stale_read_ratio'])} of reads stale ({fmt_int(row['stale_reads'])}"
            f" of {checked}), median age {fmt_ms(row['stale_age_p50_ms'])} ms,"
            f" oldest {fmt_ms(row['stale_age_max_ms'])} ms"
        )
    if positive(row["list_stale_ratio"]):
        parts.append(f"{fmt_pct(row['list_stale_ratio'])} of category lists stale")
    local = row["local_hit_ratio"]
    tier = f" ({fmt_pct(local)} from the local tier)" if positive(local) else ""
    if positive(row.get("stale_by_design_ratio")):
        tier += f" ({fmt_pct(row['stale_by_design_ratio'])} answered stale by design)"
    if missing(row["hit_ratio"]):
        parts.append("hit ratio unknown (no X-Cache header)")
    else:
        parts.append(f"hit ratio {fmt_pct(row['hit_ratio'])}{tier}")
    parts.append(f"reads {fmt_ms(row['read_p50_ms'])} ms p50, {fmt_ms(row['read_p99_ms'])} ms p99")
    if not missing(row["probe_convergence_p50_ms"]):
        parts.append(probe_phrase(row))
    if positive(row["errors"]):
        unreadable = row.get("unparseable")
        bodies = (f", {fmt_int(unreadable)} of them a 2xx whose body did not parse"
                  if positive(unreadable) else "")  # fmt: skip
        parts.append(f"{fmt_int(row['errors'])} errors{bodies}")
    status = record.get("status", "complete")
    partial = f" (strategy status {status}: partial figures)" if status != "complete" else ""
    if status == "failed_verify":  # a service the suite did not start: measured all the same
        partial = " (measured although it failed verification; see the top of the report)"
    promise = f" Verified first: {record['claim']}." if record.get("claim") else ""
    return "; ".join(parts) + partial + "." + promise


def report_context(folder: Path) -> dict[str, Any]:
    """Everything both templates show, computed once from the run folder."""
    manifest = read_manifest(folder)
    run = RunFolder(folder)
    summary, vis = read_table(run.summary), read_table(run.t_visibility)
    records = manifest.get("strategies", {})
    rows = {r["strategy"]: r for r in summary.to_dict("records")}
    order = list(dict.fromkeys([*strategy_order(manifest), *rows]))
    ordered = [rows[name] for name in order if name in rows]
    status, reason = manifest["status"], manifest.get("reason")
    stopped = None
    if status != "complete":
        stopped = STATUS_WARNINGS.get(status, f"This run has status {status}") + (
            f": {reason}." if reason else "."
        )
        stopped += " The figures cover only what was recorded before it stopped."
    skipped = [f"{fmt_int(r.rows)} unreadable rows skipped in {r.file} (a line cut short or"
               " garbled, as a killed writer leaves); the figures leave them out."
               for r in read_table(run.unreadable_rows).itertuples()]  # fmt: skip
    unfresh = unfresh_warnings(manifest, set(rows))
    warnings = [*probe_warnings(manifest), *unfresh, stopped, *skipped]  # a stopped probe first
    warning = " ".join(w for w in warnings if w) or None
    vis_table, sentences = visibility(vis, order) if not vis.empty else (None, [])
    latency = latency_table(folder, manifest, ordered)
    return {
        "title": f"Cache invalidation: {manifest['config']['scenario']} ({folder.name})",
        "opening": opening(ordered, recorded_budget(manifest), folder),
        "warning": warning,
        "status": status + (f" ({reason})" if reason and not stopped else ""),
        "run_lines": [*describe_run(manifest), *clock_lines(folder, manifest)],
        "tables": [*summary_tables(ordered, latency), *timing_table(ordered)] if ordered else [],
        "visibility": vis_table,
        "write_visibility": write_visibility_table(folder, order),
        "visibility_sentences": sentences,
        "verdicts": [(n, verdict(rows.get(n), records.get(n, {}))) for n in order],
        "notes": [
            *guide_notes(rows, vis, manifest["config"]["ttl_s"]),
            *timing_note(ordered),
            *whitebox_note(ordered),
            *library_notes(manifest, ordered),
        ]
        if rows
        else [],
        "faults": fault_section(folder, manifest["config"]["ttl_s"]),
        "replication": replication_section(manifest["config"], ordered),
    }


def ordered_rows(folder: Path, manifest: dict[str, Any]) -> list[Row]:
    """summary.csv's rows in run order (strategies the manifest does not know last)."""
    summary = read_table(RunFolder(folder).summary)
    rows = {r["strategy"]: r for r in summary.to_dict("records")}
    order = list(dict.fromkeys([*strategy_order(manifest), *rows]))
    return [rows[name] for name in order if name in rows]


def write_summary_document(folder: Path) -> Path:
    """summary.json from summary.csv and run.json: figures, verdicts, the budget's pick."""
    manifest = read_manifest(folder)
    rows, records = ordered_rows(folder, manifest), manifest.get("strategies", {})
    words = {}
    for row in rows:
        record = records.get(row["strategy"], {})
        words[row["strategy"]] = (record.get("status", "complete"), record.get("claim"),
                                  verdict(row, record))  # fmt: skip
    return write_summary_json(folder, document(manifest, rows, words, recorded_budget(manifest)))


def build_report(folder: Path) -> tuple[Path, Path]:
    """Draw the plots and write `report.md`, `report.html` and `summary.json`; returns the
    two reports' paths."""
    write_summary_document(folder)
    context = report_context(folder)
    plots = [(PLOT_CAPTIONS[name], path) for name, path in make_plots(folder).items() if path]
    return write_reports(folder, "report", context, plots)
