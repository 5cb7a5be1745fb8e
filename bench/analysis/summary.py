"""The summary: a pure function of a run folder, from raw request and probe rows to tables.

Reads only `run.json`, `requests/*.csv` and `probe/*.csv` of the folder (never a live
system), so `bench report DIR` re-analyses a stored run. The staleness verdicts come
from `bench.analysis.staleness`, one group's figures from `bench.analysis.figures`;
this module groups the rows per strategy (and sweep cell) and writes
`summary.csv`, `t_visibility.csv` and `latency_cdf.csv` back into the folder.

Rows are grouped by `strategy` plus whichever of `scenario, ttl_s, replicas, repeat`
the request rows carry as columns (a sweep writes them per cell); otherwise those come
from the manifest's config. Units: times in ms unless a name ends in `_ns` or `_s`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.columns import SUMMARY_COLUMNS
from bench.analysis.faults import fault_effects, load_faults
from bench.analysis.figures import probe_stats, read_stats, request_stats
from bench.analysis.herds import herd_stats
from bench.analysis.origin_lag import origin_lag
from bench.analysis.staleness import answered, check_staleness, t_visibility
from bench.analysis.tables import Unreadable, load_probe, load_requests
from bench.analysis.timeline import load_metrics, origin_load, timeline
from bench.analysis.whitebox import load_invalidations, whitebox, whitebox_stats
from bench.analysis.write_visibility import write_visibility
from bench.layout import RunFolder
from bench.manifest import load_seconds, read_manifest, strategy_order
from scenarios.request_rows import OPS

CONFIG_COLUMNS: tuple[str, ...] = ("scenario", "ttl_s", "replicas", "repeat")
# Dense in the tail, where strategies differ; 1.0 is the maximum.
CDF_QUANTILES: tuple[float, ...] = (
    *(i / 100 for i in range(100)),
    0.995,
    0.999,
    0.9999,
    1.0,
)


@dataclass(frozen=True)
class Analysis:
    """Everything analysis derives from a run folder (all times in ms).

    summary: one row per strategy (x sweep cell), columns `SUMMARY_COLUMNS`.
    t_visibility: group columns, t_ms, reads, fresh_share (0..1), nines.
    latency_cdf: group columns, op, quantile (0..1), latency_ms.
    reads: every answered read (op read and list) with `stale`, `stale_age_ms`,
        `since_write_ms`, `write_in_flight` (see `bench.analysis.staleness.check_staleness`).
    probe: the raw probe rows, `censored` as bool.
    unreadable: rows skipped because they did not parse, per raw file (relative path).
    timeline: per strategy and second, `bench.analysis.timeline.COLUMNS`.
    fault_effects: per injected fault, `bench.analysis.faults.EFFECT_COLUMNS` (empty
        without faults); `summary_without_faults` and `t_visibility_without_faults` are
        the strategy's own figures, the faults' stale reads left out (None without faults).
    """

    summary: pd.DataFrame
    t_visibility: pd.DataFrame
    latency_cdf: pd.DataFrame
    reads: pd.DataFrame
    probe: pd.DataFrame
    unreadable: Unreadable
    timeline: pd.DataFrame
    fault_effects: pd.DataFrame
    summary_without_faults: pd.DataFrame | None
    t_visibility_without_faults: pd.DataFrame | None
    write_visibility: pd.DataFrame  # `bench.analysis.write_visibility.COLUMNS`
    whitebox: pd.DataFrame  # probe rows with white-box times (`bench.analysis.whitebox`)


def group_columns(requests: pd.DataFrame) -> list[str]:
    """`strategy` plus the config columns that the request rows themselves carry."""
    return ["strategy", *[c for c in CONFIG_COLUMNS if c in requests.columns]]


def _groups(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[tuple[tuple, pd.DataFrame]]:
    yield from frame.groupby(list(columns), sort=False, observed=True, dropna=False)


def _in_run_order(frame: pd.DataFrame, order: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Sort rows by strategy in run order (unknown ones last, by name), then by `by`."""
    rank = {name: i for i, name in enumerate(order)}

    def key(column: pd.Series) -> pd.Series:
        if column.name == "strategy":
            return column.map(lambda s: (rank.get(s, len(rank)), s))
        if column.name == "op":
            return column.map(lambda op: OPS.index(op) if op in OPS else len(OPS))
        return column

    return frame.sort_values(list(by), key=key, kind="stable").reset_index(drop=True)


def summarise(
    requests: pd.DataFrame,
    reads: pd.DataFrame,
    probe: pd.DataFrame,
    manifest: dict[str, Any],
    columns: Sequence[str],
    origin: pd.DataFrame | None = None,
    whitebox: pd.DataFrame | None = None,
    lag: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per group (`columns`), `SUMMARY_COLUMNS` in order (+ `repeat` in a sweep).

    Config values the rows do not carry come from the manifest. See `request_stats`,
    `read_stats` and `probe_stats` for the units of each figure; `origin` is
    `bench.analysis.timeline.origin_load`, per strategy (a run measures each once), and
    so are the herds (`bench.analysis.herds`), whose expiry windows take the TTL from a
    `ttl_s` column of the rows when they carry one, else from the manifest, and the
    white-box times (`bench.analysis.whitebox.whitebox_stats`).
    """
    config = manifest.get("config", {})
    per_strategy = herd_stats(reads, config.get("ttl_s"))
    for extra in (origin, whitebox, lag):
        if extra is not None:
            per_strategy = extra.join(per_strategy, how="outer")
    reads_by = dict(_groups(reads, columns))
    probe_columns = [c for c in columns if c in probe.columns]
    probe_by = dict(_groups(probe, probe_columns))
    rows = []
    for key, group in _groups(requests, columns):
        cell = dict(zip(columns, key, strict=True))
        row: dict[str, Any] = {c: cell.get(c, config.get(c)) for c in CONFIG_COLUMNS}
        row["strategy"] = cell["strategy"]
        row |= request_stats(group, load_seconds(manifest, cell["strategy"]))
        row |= read_stats(reads_by.get(key, reads.iloc[:0]))
        row |= probe_stats(probe_by.get(tuple(cell[c] for c in probe_columns), probe.iloc[:0]))
        if cell["strategy"] in per_strategy.index:
            row |= per_strategy.loc[cell["strategy"]].to_dict()
        rows.append(row)
    output = list(SUMMARY_COLUMNS)
    if "repeat" in columns:
        output.insert(output.index("ttl_s") + 1, "repeat")
    summary = pd.DataFrame(rows, columns=output)
    return _in_run_order(summary, strategy_order(manifest), ["strategy", *columns[1:]])


def latency_cdf(requests: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Latency (ms) of answered requests at `CDF_QUANTILES`, per group and op, for plots."""
    ok = requests[answered(requests)].assign(op=lambda f: f["op"].astype(str))
    by = [*columns, "op"]
    cdf = ok.groupby(by, sort=False, observed=True, dropna=False)["latency_ms"].quantile(
        list(CDF_QUANTILES)
    )
    cdf.index = cdf.index.set_names([*by, "quantile"])
    return cdf.rename("latency_ms").reset_index()


def analyse(folder: Path, keep_parquet: bool = False) -> Analysis:
    """Analyse a run folder without touching any live system (see `Analysis` for units);
    `keep_parquet` leaves a Parquet copy beside each request CSV it reads."""
    manifest = read_manifest(folder)
    requests, unreadable_requests = load_requests(folder, keep_parquet)
    probe, unreadable_probe = load_probe(folder)
    columns = group_columns(requests)
    order = strategy_order(manifest)
    reads = check_staleness(requests, columns)
    requests = requests.drop(columns="items")  # the list bodies, by far the largest column
    faults = load_faults(folder)
    effects, owner = fault_effects(requests, reads, faults)
    seconds = timeline(requests, reads, load_metrics(folder))
    origin = origin_load(seconds)
    matched = whitebox(probe, load_invalidations(folder))
    lag = origin_lag(folder)

    def figures(reads: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        visibility = t_visibility(reads, columns)
        return (summarise(requests, reads, probe, manifest, columns, origin,
                          whitebox_stats(matched), lag),
                _in_run_order(visibility, order, [*columns, "t_ms"]))  # fmt: skip

    summary, visibility = figures(reads)
    own = figures(reads[owner < 0]) if not faults.empty else (None, None)
    return Analysis(
        summary=summary,
        t_visibility=visibility,
        latency_cdf=_in_run_order(latency_cdf(requests, columns), order, [*columns, "op"]),
        reads=reads,
        probe=probe,
        unreadable=unreadable_requests | unreadable_probe,
        timeline=seconds,
        fault_effects=effects,
        summary_without_faults=own[0],
        t_visibility_without_faults=own[1],
        write_visibility=_in_run_order(write_visibility(probe), order, ["strategy", "t_ms"]),
        whitebox=matched,
    )


def write_analysis(folder: Path) -> Analysis:
    """Analyse `folder` and write summary.csv, t_visibility.csv, latency_cdf.csv into it,
    and unreadable_rows.csv when a raw file had rows that did not parse.

    These files are derived, so rewriting them is safe: the raw files stay untouched. So
    are the Parquet copies of the request CSVs it leaves beside them (`bench.analysis.tables`).
    Missing values are empty cells; an unbounded figure (all reads fresh, a censored
    tail) is written as `inf`.
    """
    analysis, run = analyse(folder, keep_parquet=True), RunFolder(folder)
    analysis.summary.to_csv(run.summary, index=False)
    analysis.t_visibility.to_csv(run.t_visibility, index=False)
    analysis.latency_cdf.to_csv(run.latency_cdf, index=False)
    analysis.timeline.to_csv(run.timeline, index=False)
    derived_when = {
        run.write_visibility: analysis.write_visibility,
        run.whitebox: analysis.whitebox,
        run.unreadable_rows: pd.DataFrame(list(analysis.unreadable.items()),
                                          columns=["file", "rows"]),
        run.fault_effects: analysis.fault_effects,
        run.summary_without_faults: analysis.summary_without_faults,
        run.t_visibility_without_faults: analysis.t_visibility_without_faults,
    }  # fmt: skip
    for path, table in derived_when.items():  # written only when there is something to say
        path.unlink(missing_ok=True)
        if table is not None and not table.empty:
            table.to_csv(path, index=False)
    return analysis
