"""A sweep's trade-off figures: each figure against TTL, and against replicas.

Input is the per-cell aggregate of `bench.sweep_stats.aggregate` (means over repeats, 95%
half-widths drawn as error bars), never raw rows. One line per strategy, coloured as in
the cells' own reports. TTLs sit on a log axis (1, 5, 30 s are evenly spread there).
On a log y axis a zero cannot be drawn, yet "no stale read" is the best possible value:
such points sit on the axis floor as hollow markers, and the legend says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from bench.report.numbers import n_replicas
from bench.report.plots import percent_yaxis, save, strategy_colors

# (figure, y label, y axis): None for a linear one; for a log one, where zeros are drawn
# (see `log_floor`), in the figure's unit. Panels in reading order.
TTL_PANELS = (
    ("hit_ratio", "hit ratio (higher is better)", None),
    ("read_p99_ms", "read p99 (ms)", None),
    ("stale_age_p99_ms", "stale age p99 (ms, log)", 0.1),
    ("stale_read_ratio", "stale-read ratio (log)", 1e-5),
)
SCALE_PANELS = (
    ("rps", "requests/s", None),
    ("probe_convergence_p50_ms", "probe convergence p50 (ms, log)", 0.1),
)


def log_floor(values: pd.Series, default: float) -> float:
    """Where zeros go on a log axis: `default`, or lower if a value is within 3x of it.

    Fixed rather than relative to the data, so that a zero never sits above a reference
    line such as the budget.
    """
    positive = values[(values > 0) & np.isfinite(values)]
    return min(default, float(positive.min()) / 3) if not positive.empty else default


def line(ax: Axes, rows: pd.DataFrame, y: str, style: dict, floor: float | None) -> None:
    """One strategy's line with 95% error bars; on a log axis, zeros hollow on the floor.

    `rows["x"]` is where each point goes (already dodged, see `panel`).
    """
    rows = rows[np.isfinite(rows[y])].sort_values("x")
    x, values, upper = rows["x"], rows[y], rows[f"{y}_ci"].fillna(0.0)
    zero = values <= 0 if floor is not None else pd.Series(False, index=rows.index)
    if floor is not None:  # a bar cannot reach below the floor of a log axis
        values = values.where(~zero, floor)
        upper = upper.where(~zero, 0.0)
    lower = np.minimum(upper, values - floor) if floor is not None else upper
    ax.errorbar(x, values, yerr=[lower, upper], capsize=3, lw=1.8, **style)
    ax.plot(x[~zero], values[~zero], ls="none", marker="o", color=style["color"])
    ax.plot(x[zero], values[zero], ls="none", marker="o", mfc="white", ms=8, color=style["color"])


def panel(ax: Axes, cells: pd.DataFrame, x: str, spec: tuple, colors: dict[str, str]) -> None:
    """One figure against `x`, a line per strategy.

    Strategies are dodged sideways by a few percent (TTLs, on a log axis) or a few
    hundredths (replicas), so equal values, such as several strategies with no stale
    read, stay visible side by side instead of hiding each other.
    """
    figure, ylabel, default_floor = spec
    floor = log_floor(cells[figure], default_floor) if default_floor else None
    groups = list(cells.groupby("strategy", sort=False))
    for i, (name, rows) in enumerate(groups):
        offset = i - (len(groups) - 1) / 2
        dodged = rows[x] * 1.04**offset if x == "ttl_s" else rows[x] + 0.04 * offset
        line(ax, rows.assign(x=dodged), figure, {"color": colors[name], "label": name}, floor)
    if floor is not None:
        ax.set_yscale("log")
        if (cells[figure] == 0).any():
            ax.plot(
                [],
                [],
                ls="none",
                marker="o",
                mfc="none",
                color="grey",
                label="0 (drawn at the floor)",
            )
    if figure.endswith("_ratio"):
        percent_yaxis(ax)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)


def legend(fig: Figure, ax: Axes) -> None:
    """One legend for all panels, below them: the strategies and the reference lines."""
    handles, labels = ax.get_legend_handles_labels()
    # strategies (error-bar containers, listed last by matplotlib) first, then references
    order = sorted(range(len(handles)), key=lambda i: not isinstance(handles[i], ErrorbarContainer))
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 7), fontsize=9)


def ttl_axis(ax: Axes, ttls: list[float]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(ttls, [f"{t:g} s" for t in ttls])
    ax.minorticks_off()
    ax.set_xlabel("TTL (log)")


def ttl_tradeoff(folder: Path, cells: pd.DataFrame, replicas: int, budget_ms: float | None) -> Path:
    """Hit ratio, read p99, stale age p99 and stale ratio against TTL, at one replica count.

    The stale-age panel also shows the TTL itself (stale age = TTL, the bound the `ttl`
    strategy must follow) and the budget, when one was given.
    """
    colors = strategy_colors(folder, list(cells["strategy"]))
    ttls = sorted(cells["ttl_s"].unique())
    fig = Figure(figsize=(11, 8), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for ax, spec in zip(axes, TTL_PANELS, strict=True):
        panel(ax, cells, "ttl_s", spec, colors)
        ttl_axis(ax, ttls)
    stale_age = axes[2]
    stale_age.plot(
        ttls, [t * 1000 for t in ttls], ls="--", lw=1, color="grey", label="stale age = TTL"
    )
    if budget_ms is not None:
        stale_age.axhline(
            budget_ms, ls=":", lw=1.2, color="black", label=f"budget {budget_ms:g} ms"
        )
    legend(fig, axes[2])
    fig.suptitle(f"Trade-offs against TTL at {n_replicas(replicas)} (bars: 95% intervals)")
    return save(fig, folder, f"tradeoff_n{replicas}")


def replica_scaling(folder: Path, cells: pd.DataFrame, ttl_s: float) -> Path:
    """Requests/s and probe convergence against replicas, at one TTL: the fan-out's cost."""
    colors = strategy_colors(folder, list(cells["strategy"]))
    counts = sorted(int(n) for n in cells["replicas"].unique())
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, spec in zip(axes, SCALE_PANELS, strict=True):
        panel(ax, cells, "replicas", spec, colors)
        ax.set_xticks(counts, [str(n) for n in counts])
        ax.set_xlabel("replicas")
    legend(fig, axes[1])
    fig.suptitle(f"Scaling out at TTL {ttl_s:g} s (bars: 95% intervals)")
    return save(fig, folder, f"scale_ttl{ttl_s:g}")


def sweep_plots(
    folder: Path, cells: pd.DataFrame, budget_ms: float | None
) -> list[tuple[str, Path]]:
    """(caption, path) of every trade-off figure the sweep has the axes for.

    A TTL figure needs two TTLs, a scaling figure two replica counts: one point per line
    shows no trend. A censored probe tail (infinite p50) is left out of its panel.
    """
    plots = []
    if cells["ttl_s"].nunique() > 1:
        for replicas in sorted(cells["replicas"].unique()):
            rows = cells[cells["replicas"] == replicas]
            caption = f"Hit ratio, read p99 and staleness against TTL, {n_replicas(int(replicas))}"
            plots.append((caption, ttl_tradeoff(folder, rows, int(replicas), budget_ms)))
    if cells["replicas"].nunique() > 1:
        for ttl_s in sorted(cells["ttl_s"].unique()):
            rows = cells[cells["ttl_s"] == ttl_s]
            caption = f"Throughput and probe convergence against replicas, TTL {ttl_s:g} s"
            plots.append((caption, replica_scaling(folder, rows, float(ttl_s))))
    return plots
