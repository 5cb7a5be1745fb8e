"""The summary: a pure function of a run folder, from raw request and probe rows to tables.

Reads only `run.json`, `requests/*.csv` and `probe/*.csv` of the folder (never a live
system), so `bench report DIR` re-analyses a stored run. The staleness verdicts come
from `bench.analysis.staleness`, one group's figures from `bench.analysis.figures`;
this module groups the rows per strategy (and sweep cell) and writes
`summary.csv`, `t_visibility.csv`, `latency_cdf.csv` and `latency_percentiles.csv` back
into the folder.

Rows are grouped by `strategy` plus whichever of `scenario, ttl_s, replicas, repeat`
the request rows carry as columns (a sweep writes them per cell); otherwise those come
from the manifest's config. Units: times in ms unless a name ends in `_ns` or `_s`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.clocks import load_clocks
from bench.analysis.columns import SUMMARY_COLUMNS
from bench.analysis.faults import fault_effects, load_faults
from bench.analysis.figures import probe_stats, read_stats, request_stats
from bench.analysis.frames import checked_reads, checked_store, hot_frame, strategy_frames
from bench.analysis.herds import herd_stats
from bench.analysis.origin_lag import origin_lag
from bench.analysis.percentiles import (
    latency_tables,
    recorded,
    with_quantiles,
)
from bench.analysis.rows import CELL_TYPES
from bench.analysis.staleness import t_visibility
from bench.analysis.tables import Unreadable, load_probe
from bench.analysis.timeline import load_metrics, origin_load, timeline
from bench.analysis.whitebox import load_invalidations, whitebox, whitebox_stats
from bench.analysis.write_visibility import write_visibility
from bench.layout import RunFolder
from bench.manifest import load_seconds, read_manifest, strategy_order
from scenarios.request_rows import OPS

CONFIG_COLUMNS: tuple[str, ...] = tuple(CELL_TYPES)  # scenario, ttl_s, replicas, repeat
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
    latency_cdf: group columns, op, quantile (0..1), latency_ms: `CDF_QUANTILES` and the
        run's percentiles (`bench.analysis.percentiles`).
    latency_percentiles: group columns, op, percentile (0..100], latency_ms: the run's
        percentiles exactly, for the report's latency table.
    reads: every answered read (op read and list) with `stale`, `stale_age_ms`,
        `since_write_ms`, `write_in_flight` (see `bench.analysis.staleness.check_staleness`),
        checked again when asked for (`checked_reads`): analysis itself never holds them all.
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
    latency_percentiles: pd.DataFrame
    probe: pd.DataFrame
    unreadable: Unreadable
    timeline: pd.DataFrame
    fault_effects: pd.DataFrame
    summary_without_faults: pd.DataFrame | None
    t_visibility_without_faults: pd.DataFrame | None
    write_visibility: pd.DataFrame  # `bench.analysis.write_visibility.COLUMNS`
    whitebox: pd.DataFrame  # probe rows with white-box times (`bench.analysis.whitebox`)
    read_rows: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @cached_property
    def reads(self) -> pd.DataFrame:
        return self.read_rows()


def _groups(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[tuple[tuple, pd.DataFrame]]:
    """(key, rows) per group; a frame of one group is its own group, not a copy of it
    (analysis hands over one strategy at a time, usually one group of many millions)."""
    if len(frame) and all(frame[c].nunique(dropna=False) == 1 for c in columns):
        yield tuple(frame[c].iloc[0] for c in columns), frame
        return
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
    hot: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per group (`columns`), `SUMMARY_COLUMNS` in order (+ `repeat` in a sweep).

    The herds are found among `hot`, the reads of the hot keys with the columns herds
    need, when given (analysis fetches those apart), else among `reads`.

    Config values the rows do not carry come from the manifest. See `request_stats`,
    `read_stats` and `probe_stats` for the units of each figure; `origin` is
    `bench.analysis.timeline.origin_load`, per strategy (a run measures each once), and
    so are the herds (`bench.analysis.herds`), whose expiry windows take the TTL from a
    `ttl_s` column of the rows when they carry one, else from the manifest, and the
    white-box times (`bench.analysis.whitebox.whitebox_stats`).
    """
    config = manifest.get("config", {})
    per_strategy = herd_stats(reads if hot is None else hot, config.get("ttl_s"))
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


@dataclass
class Parts:
    """The tables analysis builds strategy by strategy, concatenated at the end."""

    summary: list[pd.DataFrame] = field(default_factory=list)
    visibility: list[pd.DataFrame] = field(default_factory=list)
    own_summary: list[pd.DataFrame] = field(default_factory=list)
    own_visibility: list[pd.DataFrame] = field(default_factory=list)
    cdf: list[pd.DataFrame] = field(default_factory=list)
    percentiles: list[pd.DataFrame] = field(default_factory=list)
    seconds: list[pd.DataFrame] = field(default_factory=list)
    effects: list[pd.DataFrame] = field(default_factory=list)


def analyse(folder: Path) -> Analysis:
    """Analyse a run folder without touching any live system (see `Analysis` for units).

    The rows go into DuckDB and are checked there (`bench.analysis.rows`); every figure
    after the checker is computed one strategy at a time from narrow frames, each
    strategy's figures being its own (a herd, a timeline, a fault are one strategy's)."""
    manifest = read_manifest(folder)
    order = strategy_order(manifest)
    probe, unreadable_probe = load_probe(folder)
    faults, metrics = load_faults(folder), load_metrics(folder)
    matched = whitebox(probe, load_invalidations(folder))
    lag = origin_lag(folder)
    correct = manifest.get("clock_correction", True)  # workers' rows onto the master's clock
    clocks = load_clocks(folder) if correct else load_clocks(folder).iloc[:0]
    parts = Parts()
    with checked_store(folder, clocks) as store:
        columns = store.group_columns
        strategies = store.strategies()
        for strategy in strategies or [None]:
            requests, reads, hot = strategy_frames(store, strategy)
            _analyse_strategy(parts, requests, reads, hot, probe, manifest, columns,
                              faults[faults["strategy"] == strategy] if not faults.empty
                              else faults, metrics, matched, lag,
                              partial(hot_frame, store, strategy))  # fmt: skip
            del requests, reads, hot
        unheard = faults[~faults["strategy"].isin(strategies)] if not faults.empty else faults
        if not unheard.empty:  # faults of a strategy that recorded no rows: still listed
            requests, reads, _ = strategy_frames(store, None)
            parts.effects.append(fault_effects(requests, reads, unheard)[0])
        unreadable = store.unreadable | unreadable_probe

    def joined(tables: list[pd.DataFrame], by: Sequence[str]) -> pd.DataFrame:
        return _in_run_order(pd.concat(tables, ignore_index=True), order, by)

    effects = pd.concat(parts.effects).sort_index() if parts.effects else None
    return Analysis(
        summary=joined(parts.summary, ["strategy", *columns[1:]]),
        t_visibility=joined(parts.visibility, [*columns, "t_ms"]),
        latency_cdf=joined(parts.cdf, [*columns, "op"]),
        latency_percentiles=joined(parts.percentiles, [*columns, "op", "percentile"]),
        read_rows=lambda: checked_reads(folder, clocks),
        probe=probe,
        unreadable=unreadable,
        timeline=joined(parts.seconds, ["strategy", "second"]),
        fault_effects=(effects.reset_index(drop=True) if effects is not None
                       else fault_effects(pd.DataFrame(), pd.DataFrame(), faults)[0]),
        summary_without_faults=(joined(parts.own_summary, ["strategy", *columns[1:]])
                                if not faults.empty else None),
        t_visibility_without_faults=(joined(parts.own_visibility, [*columns, "t_ms"])
                                     if not faults.empty else None),
        write_visibility=_in_run_order(write_visibility(probe), order, ["strategy", "t_ms"]),
        whitebox=matched,
    )  # fmt: skip


def _analyse_strategy(parts: Parts, requests: pd.DataFrame, reads: pd.DataFrame,
                      hot: pd.DataFrame, probe: pd.DataFrame, manifest: dict[str, Any],
                      columns: list[str], faults: pd.DataFrame, metrics: pd.DataFrame,
                      matched: pd.DataFrame, lag: pd.DataFrame | None,
                      hot_without: Callable[[pd.Series], pd.DataFrame]) -> None:  # fmt: skip
    """One strategy's (or, for empty frames, an empty run's) tables into `parts`;
    `hot_without(rids)` is `hot` with those reads left out before its keys are counted."""
    seconds = timeline(requests, reads, metrics)
    origin = origin_load(seconds)
    white = whitebox_stats(matched)

    def figures(reads: pd.DataFrame, hot: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (summarise(requests, reads, probe, manifest, columns, origin, white, lag, hot),
                t_visibility(reads, columns))  # fmt: skip

    summary, visibility = figures(reads, hot)
    parts.summary.append(summary)
    parts.visibility.append(visibility)
    parts.seconds.append(seconds)
    if not faults.empty:
        effects, owner = fault_effects(requests, reads, faults)
        parts.effects.append(effects.set_axis(faults.index))
        theirs = reads.loc[owner >= 0, "rid"]  # the faults' stale reads, left out
        own_summary, own_visibility = figures(reads[owner < 0], hot_without(theirs))
        parts.own_summary.append(own_summary)
        parts.own_visibility.append(own_visibility)
    percentiles = recorded(manifest)
    cdf, exact = latency_tables(requests, columns, with_quantiles(CDF_QUANTILES, percentiles),
                                percentiles)  # fmt: skip
    parts.cdf.append(cdf)
    parts.percentiles.append(exact)


def write_analysis(folder: Path) -> Analysis:
    """Analyse `folder` and write summary.csv, t_visibility.csv, latency_cdf.csv,
    latency_percentiles.csv and timeline.csv into it, and unreadable_rows.csv when a raw
    file had rows that did not parse.

    These files are derived, so rewriting them is safe: the raw files stay untouched.
    Missing values are empty cells; an unbounded figure (all reads fresh, a censored
    tail) is written as `inf`.
    """
    analysis, run = analyse(folder), RunFolder(folder)
    analysis.summary.to_csv(run.summary, index=False)
    analysis.t_visibility.to_csv(run.t_visibility, index=False)
    analysis.latency_cdf.to_csv(run.latency_cdf, index=False)
    analysis.latency_percentiles.to_csv(run.latency_percentiles, index=False)
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
