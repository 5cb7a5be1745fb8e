"""Figures for the run report, drawn from analysis output and the manifest only.

Each function reads its input from the run folder F, writes `F/plots/<name>.png` and
returns that path, or returns None when the run holds no data for it (an interrupted run,
a run without probe), so the report leaves the figure out instead of failing. The
object API (`Figure`, no pyplot) keeps this free of global state and of any display.
"""

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bench.analysis import percentiles
from bench.analysis.tables import load_probe, read_table
from bench.disk import whole
from bench.layout import RunFolder
from bench.manifest import read_manifest, strategy_order

SERIES_COLORS = ("tab:blue", "tab:orange")  # first and second bar of a group
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
           "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")  # fmt: skip


def strategy_colors(folder: Path, names: list[str]) -> dict[str, str]:
    """One colour per strategy, the same in every figure of a run (run order first)."""
    order = strategy_order(read_manifest(folder))
    order = [*order, *sorted(set(names) - set(order))]
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(order)}


def by_strategy(frame: pd.DataFrame, folder: Path) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(name, colour, rows) per strategy, in the run's own order."""
    names = list(dict.fromkeys(frame["strategy"]))
    colors = strategy_colors(folder, names)
    for name in sorted(names, key=list(colors).index):
        yield name, colors[name], frame[frame["strategy"] == name]


def percent_yaxis(ax: Axes) -> None:
    """Tick labels as percentages: a share of reads reads better as 0.1% than as 1e-3."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value * 100:g}%"))


def save(fig: Figure, folder: Path, name: str) -> Path:
    path = RunFolder(folder).plot(name)
    path.parent.mkdir(exist_ok=True)
    with whole(path) as aside:  # a full disk leaves no half PNG
        fig.savefig(aside, dpi=110, bbox_inches="tight", format="png")
    return path


def finish(fig: Figure, ax: Axes, folder: Path, name: str, labels: tuple[str, str, str]) -> Path:
    """Label, grid and legend every figure alike, then save it.

    `labels` is (x label, y label, title); the legend sits right of the axes, where it
    hides no line.
    """
    xlabel, ylabel, title = labels
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    return save(fig, folder, name)


def tail_marks(chosen: Sequence[float]) -> list[tuple[float, str]]:
    """Reference lines on the latency tail, one per percentile the run asks for: the share
    of reads slower than it (p100, the slowest, has none to draw on a log axis)."""
    return [(1 - p / 100, percentiles.label(p)) for p in chosen if p < 100]


def read_latency_cdf(folder: Path) -> Path | None:
    """Read latency as a tail plot: share of reads slower than x, both axes log, with a
    line at each percentile run.json's config asks for (`--percentiles`).

    Plotting 1 - quantile on a log axis gives p99 and p99.9 as much room as the median,
    which is where strategies differ (a miss, a race, a queue).
    """
    cdf = read_table(RunFolder(folder).latency_cdf)
    reads = cdf[cdf["op"] == "read"] if not cdf.empty else cdf
    if reads.empty:
        return None
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    for name, color, rows in by_strategy(reads, folder):
        rows = rows.sort_values("quantile")
        slower = 1 - rows["quantile"]
        shown = (slower > 0) & (rows["latency_ms"] > 0)
        ax.plot(rows["latency_ms"][shown], slower[shown], label=name, color=color, lw=1.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for share, name in tail_marks(percentiles.recorded(read_manifest(folder))):
        ax.axhline(share, color="grey", ls=":", lw=0.8)
        ax.annotate(name, (0, share), xycoords=("axes fraction", "data"), xytext=(3, 2),
                    textcoords="offset points", va="bottom", fontsize=9, color="grey")  # fmt: skip
    percent_yaxis(ax)
    labels = ("read latency (ms, log)", "share of reads slower than x (log)",
              "Read latency tail per strategy")  # fmt: skip
    return finish(fig, ax, folder, "read_latency", labels)


def grouped_bars(ax: Axes, summary: pd.DataFrame, series: list[tuple[str, str]]) -> None:
    """Bars per strategy, one per (column, label) with any value; each bar labelled."""
    series = [(col, label) for col, label in series if summary[col].notna().any()]
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(summary))
    for i, (column, label) in enumerate(series):
        values = summary[column]
        offset = (i - (len(series) - 1) / 2) * width
        bars = ax.bar(x + offset, values.fillna(0), width, label=label, color=SERIES_COLORS[i])
        texts = ["n/a" if pd.isna(v) else f"{v * 100:.3g}%" for v in values]
        ax.bar_label(bars, texts, fontsize=8, padding=2)
    ax.set_xticks(x, summary["strategy"])
    percent_yaxis(ax)
    ax.margins(y=0.15)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=len(series))


def hit_and_stale_ratios(folder: Path) -> Path | None:
    """Hit ratio beside stale-read ratio: the two sides of every strategy's trade."""
    summary = read_table(RunFolder(folder).summary)
    if summary.empty:
        return None
    order = list(strategy_colors(folder, list(summary["strategy"])))
    summary = summary.sort_values("strategy", key=lambda s: s.map(order.index))
    fig = Figure(figsize=(10, 4.2))
    hit, stale = fig.subplots(1, 2)
    grouped_bars(hit, summary, [("hit_ratio", "all tiers"), ("local_hit_ratio", "local tier")])
    hit.set_title("Hit ratio (higher is better)")
    grouped_bars(stale, summary, [("stale_read_ratio", "product reads"),
                                  ("list_stale_ratio", "category lists")])  # fmt: skip
    stale.set_title("Stale-read ratio (lower is better)")
    return save(fig, folder, "hit_stale")


def t_visibility(folder: Path) -> Path | None:
    """Share of reads fresh t after a write, drawn as nines so 99% and 99.99% differ.

    t = 0 sits on a symlog axis beside the log-spaced t; a strategy where every read was
    fresh (infinite nines) is drawn on a line of its own at the top, labelled 100%.
    """
    vis = read_table(RunFolder(folder).t_visibility)
    if not vis.empty:
        vis = vis[vis["reads"] > 0]
    if vis.empty:
        return None
    finite = vis["nines"][np.isfinite(vis["nines"])]
    # rounded first, so 5.000000001 nines (float noise) does not make a sixth
    top = int(np.ceil(finite.max().round(6))) + 1 if not finite.empty else 3
    bottom = int(np.floor(finite.min().round(6))) if not finite.empty else 0
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    for name, color, rows in by_strategy(vis, folder):
        rows = rows.sort_values("t_ms")
        nines = rows["nines"].clip(upper=top)
        ax.plot(rows["t_ms"], nines, marker="o", label=name, color=color, lw=1.8)
    ax.axhline(top, color="grey", ls="--", lw=0.8)
    ax.set_xscale("symlog", linthresh=10)
    ticks = sorted(vis["t_ms"].unique())
    ax.set_xticks(ticks, [f"{t:g} ms" if t < 1000 else f"{t / 1000:g} s" for t in ticks])
    ax.set_xlim(left=min(ticks))
    shares = [f"{100 * (1 - 10.0**-n):.{max(n - 2, 0)}f}%" for n in range(bottom, top)]
    ax.set_yticks(range(bottom, top + 1), [*shares, "100%"])
    ax.set_ylim(bottom - 0.2, top + 0.4)
    labels = ("time since the write was acknowledged (t)", "share of reads fresh (nines scale)",
              "t-visibility: reads fresh t after a write")  # fmt: skip
    return finish(fig, ax, folder, "t_visibility", labels)


def probe_convergence(folder: Path) -> Path | None:
    """ECDF of the probe's convergence upper bound per strategy, censored cycles counted.

    A censored observation never turned fresh before the cap, so it stays in the
    denominator: the curve then tops out below 100%, which is the honest picture.
    """
    probe, _ = load_probe(folder)
    if probe.empty:
        return None
    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    for name, color, rows in by_strategy(probe, folder):
        done = np.sort(rows.loc[~rows["censored"], "convergence_ms"].clip(lower=0.01).to_numpy())
        censored = int(rows["censored"].sum())
        label = f"{name} (n={len(rows)}, {censored} censored)"
        if done.size == 0:  # every observation censored: a legend entry, no curve
            ax.plot([], [], label=label, color=color)
            continue
        share = np.arange(1, done.size + 1) / len(rows)
        ax.step(np.r_[done[0], done], np.r_[0, share], where="post", label=label, color=color)
        if censored:  # where the curve stops short of 100%, say why
            end = (done[-1], share[-1])
            ax.annotate(f"{censored} censored", end, xytext=(-6, 0), textcoords="offset points",
                        ha="right", va="center", fontsize=9, color=color)  # fmt: skip
    ax.set_xscale("log")
    percent_yaxis(ax)
    ax.set_ylim(0, 1.02)
    labels = ("convergence upper bound: first fresh answer - write ack (ms, log)",
              "share of (cycle, replica) converged",
              "Probe: how soon each replica served the written version")  # fmt: skip
    return finish(fig, ax, folder, "probe_convergence", labels)


def timeline_figure(folder: Path) -> Figure | None:
    """Per strategy and second: requests, errors, stale reads and origin reads per second,
    each injected fault's window shaded, so what a fault did shows where it happened.

    One subplot per strategy, top to bottom in run order (`by_strategy`), as every other
    table and figure of the report: timeline.csv's own order is that of the request files,
    named by Locust's pid. None when the run has no timeline."""
    run = RunFolder(folder)
    table, faults = read_table(run.timeline), read_table(run.fault_effects)
    if table.empty:
        return None
    strategies = list(by_strategy(table, folder))
    fig = Figure(figsize=(8, 2.4 * len(strategies) + 0.6))
    axes = fig.subplots(len(strategies), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, _color, rows) in zip(axes, strategies, strict=True):
        for column, color in (("requests", "tab:blue"), ("origin_reads_per_s", "tab:green"),
                              ("stale_reads", "tab:red"), ("errors", "black")):  # fmt: skip
            ax.plot(rows["second"] + 0.5, rows[column], label=column.replace("_", " "),
                    color=color, lw=1.4)  # fmt: skip
        shaded = (
            faults[(faults["strategy"] == name) & (faults["status"] == "applied")]
            if len(faults)
            else faults
        )
        for fault in shaded.itertuples():
            ax.axvspan(fault.window_start_s, fault.window_end_s, color="tab:orange", alpha=0.25)
            ax.annotate(fault.kind, (fault.window_start_s, 1), xycoords=("data", "axes fraction"),
                        xytext=(2, -10), textcoords="offset points", fontsize=8)  # fmt: skip
        ax.set_ylabel(f"{name}\nper second")
        ax.set_yscale("symlog", linthresh=10)
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    axes[0].set_title("Timeline: each second of each strategy's load (faults shaded)")
    axes[-1].set_xlabel("seconds since the strategy's first request")
    return fig


def timeline(folder: Path) -> Path | None:
    """The timeline figure (`timeline_figure`) saved, or None without a timeline."""
    fig = timeline_figure(folder)
    return None if fig is None else save(fig, folder, "timeline")


def origin_load(folder: Path) -> Path | None:
    """Origin reads per second over time, every strategy on one axis: what each keeps off
    the database, and the spikes where hot keys expire together."""
    table = read_table(RunFolder(folder).timeline)
    if table.empty or table["origin_reads_per_s"].isna().all():
        return None
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for name, color, rows in by_strategy(table, folder):
        ax.plot(rows["second"] + 0.5, rows["origin_reads_per_s"], label=name, color=color, lw=1.4)
    ax.set_ylim(bottom=0)
    labels = ("seconds since the strategy's first request", "origin reads / s (all replicas)",
              "Origin load: reads that reached the database, per second")  # fmt: skip
    return finish(fig, ax, folder, "origin_load", labels)


# name -> figure, in the order the report shows them
PLOTS = {
    "read_latency": read_latency_cdf,
    "hit_stale": hit_and_stale_ratios,
    "t_visibility": t_visibility,
    "probe_convergence": probe_convergence,
    "origin_load": origin_load,
    "timeline": timeline,
}


def make_plots(folder: Path) -> dict[str, Path | None]:
    """Draw every figure the run has data for; None marks one that was skipped."""
    return {name: draw(folder) for name, draw in PLOTS.items()}
