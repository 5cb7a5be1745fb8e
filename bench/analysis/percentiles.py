"""The latency percentiles a run's report shows (`--percentiles`), computed exactly.

`summary.csv`'s catalogued latency columns are fixed (p50, p90, p99, p99.9, max), so that
runs compare; a reviewer may ask for others (p95 for an SLO, p99.99 for a tail). Those
are recorded in run.json's config, and analysis writes `latency_percentiles.csv`: per
strategy (x sweep cell) and op, each requested percentile of the answered requests'
latency, interpolated linearly between the two nearest rows (numpy's default), never
read off `latency_cdf.csv`'s grid. The report's latency table and the tail plot's marks
take them from there, so `cache-bench report FOLDER` rebuilds with the same ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis.staleness import answered
from bench.layout import RunFolder
from bench.manifest import read_manifest, write_manifest
from bench.run_config import DEFAULT_PERCENTILES, checked_percentiles

COLUMNS: tuple[str, ...] = ("op", "percentile", "latency_ms")  # after the group columns


def label(percentile: float) -> str:
    """`p50`, `p99.9`, `p99.99`: the way the report names a percentile."""
    return "p" + np.format_float_positional(percentile, trim="-")


def recorded(manifest: dict[str, Any]) -> tuple[float, ...]:
    """The percentiles run.json's config asks for; the defaults for a run recorded before
    `--percentiles` existed."""
    given = manifest.get("config", {}).get("percentiles")
    return checked_percentiles(given) if given else DEFAULT_PERCENTILES


def record(folder: Path, manifest: dict[str, Any], percentiles: Sequence[float]) -> None:
    """`cache-bench report FOLDER --percentiles ...`: from now on the folder's report shows
    these. Written into `manifest` (which the caller keeps using) and its run.json, and
    into each cell's run.json of a sweep or of a run with repeats, whose cells are
    analysed from their own."""
    values = list(checked_percentiles(percentiles))
    manifest["config"]["percentiles"] = values
    write_manifest(folder, manifest)
    for cell in manifest.get("cells", {}).values():
        if RunFolder(folder / cell["folder"]).manifest.is_file():
            data = read_manifest(folder / cell["folder"])
            data["config"]["percentiles"] = values
            write_manifest(folder / cell["folder"], data)


def latency_tables(requests: pd.DataFrame, columns: Sequence[str], cdf: Sequence[float],
                   percentiles: Sequence[float]) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Per group (`columns`) and op, the latency (ms) of answered requests at each of the
    quantiles `cdf` (0..1; group columns, op, quantile, latency_ms) and at each of
    `percentiles` (0..100]; group columns, then `COLUMNS`), from one sort per group."""
    shares = [p / 100 for p in percentiles]
    both = grouped_quantiles(requests, columns, [*cdf, *shares])
    block = np.arange(len(both)) % (len(cdf) + len(shares)) < len(cdf)
    table = both[~block].reset_index(drop=True)
    table["quantile"] = table["quantile"].map(dict(zip(shares, percentiles, strict=True)))
    return both[block].reset_index(drop=True), table.rename(columns={"quantile": "percentile"})


def latency_percentiles(
    requests: pd.DataFrame, columns: Sequence[str], percentiles: Sequence[float]
) -> pd.DataFrame:
    """Per group (`columns`) and op, the latency (ms) of answered requests at each of
    `percentiles` (0..100]: group columns, then `COLUMNS`."""
    return latency_tables(requests, columns, [], percentiles)[1]


def grouped_quantiles(
    requests: pd.DataFrame, columns: Sequence[str], quantiles: Sequence[float]
) -> pd.DataFrame:
    """Per group (`columns`) and op, the latency (ms) of answered requests at each of
    `quantiles` (0..1): group columns, op, quantile, latency_ms.

    The figures of pandas' groupby quantile, bit for bit (`sorted_quantiles`), from one
    sort per group: groupby quantile sorts again for every quantile, which at ten
    million rows and a hundred quantiles was a third of analysis's time."""
    ok = answered(requests).to_numpy(dtype=bool)
    by = [*columns, "op"]
    rows = requests.loc[ok, by]
    latency = requests["latency_ms"].to_numpy(dtype=float)[ok]
    keys, values = [], []
    for key, positions in rows.groupby(by, sort=False, observed=True, dropna=False).indices.items():
        mine = np.sort(latency[positions])
        values.append(sorted_quantiles(mine[~np.isnan(mine)], quantiles))
        keys.append((*key[:-1], str(key[-1])))  # op as text, whatever its dtype
    table = pd.DataFrame([(*key, q) for key in keys for q in quantiles], columns=[*by, "quantile"])
    table["latency_ms"] = np.concatenate(values) if values else np.array([], dtype=float)
    return table


def sorted_quantiles(ascending: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Quantiles (0..1) of sorted values as pandas' groupby quantile interpolates them:
    `low + (high - low) * fraction` (numpy's own quantile computes the upper half as
    `high - (high - low) * (1 - fraction)`, which can differ in the last bit); NaN for
    no values."""
    q = np.asarray(quantiles, dtype=float)
    if not ascending.size:
        return np.full(q.shape, np.nan)
    position = q * (ascending.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ascending.size - 1)
    fraction = position - low
    return ascending[low] + (ascending[high] - ascending[low]) * fraction


def with_quantiles(grid: Sequence[float], percentiles: Sequence[float]) -> tuple[float, ...]:
    """`grid` (quantiles, 0..1) with `percentiles` added where it lacks them, sorted, so a
    plot of the grid passes through the exact values the report's marks name."""
    extra = [p / 100 for p in percentiles
             if not any(math.isclose(p / 100, q, abs_tol=1e-12) for q in grid)]  # fmt: skip
    return tuple(sorted([*grid, *extra]))
