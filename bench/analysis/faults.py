"""What each injected fault did: which stale reads were its, how long they went on.

One rule attributes a stale read: it is the fault's when the write it missed (the
earliest newer acknowledged write, the one its stale age counts from) was acknowledged
inside the fault's window; every other stale read is the strategy's own (the read/write
race goes on during and after faults). A fault's window runs from when it was applied
to when it ended (wall clock, from faults.csv); a fault that happens once
(subscriber-drop) gets `ONE_SHOT_WINDOW_S`, long enough for a subscriber to come back.

Recovery time is from the fault's end to the start of the last stale read it caused:
how long the strategy went on serving what the fault made it miss. Pure, like all of
analysis: faults.csv, the request rows and the checker's verdicts in; tables out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.staleness import answered
from bench.analysis.timeline import starts_ns
from bench.layout import RunFolder

ONE_SHOT_WINDOW_S = 1.0
EFFECT_COLUMNS: tuple[str, ...] = (
    "strategy", "fault", "kind", "arg", "at_s", "for_s", "status",
    "stale_reads", "oldest_stale_age_ms", "last_stale_after_end_ms", "errors", "requests",
    "window_start_s", "window_end_s",
)  # fmt: skip


def load_faults(folder: Path) -> pd.DataFrame:
    """faults.csv as written (bench.faults.injector.COLUMNS); empty without faults."""
    path = RunFolder(folder).faults
    if not path.exists():
        return pd.DataFrame()
    # Int64: a wall-clock ns through a float64 (NaN where not applied) loses ~100 ns
    faults = pd.read_csv(path, dtype={"strategy": str, "kind": str, "status": str,
                                      "started_ns": "Int64", "ended_ns": "Int64"})  # fmt: skip
    return faults.reset_index(drop=True)


def windows(faults: pd.DataFrame) -> pd.DataFrame:
    """Each applied fault's window, [window_start_ns, window_end_ns], and a readable name."""
    applied = faults[faults["status"] == "applied"].copy()
    one_shot = applied["for_s"].isna()
    applied["window_start_ns"] = applied["started_ns"].astype("int64")
    ended = applied["ended_ns"].astype("int64")
    applied["window_end_ns"] = np.where(
        one_shot, applied["window_start_ns"] + int(ONE_SHOT_WINDOW_S * 1e9), ended
    )
    applied["fault"] = [fault_name(row) for row in applied.itertuples()]
    return applied


def fault_name(row: object) -> str:
    """`redis-partition@10+5:1`: the fault as it was asked for."""
    kind, at_s, for_s, arg = (getattr(row, c) for c in ("kind", "at_s", "for_s", "arg"))
    lasting = "" if pd.isna(for_s) else f"+{for_s:g}"
    return f"{kind}@{at_s:g}{lasting}" + ("" if pd.isna(arg) else f":{arg:g}")


def missed_ack_ns(reads: pd.DataFrame) -> np.ndarray:
    """For each stale read, when the write it missed was acknowledged (ns); -1 if fresh."""
    age_ns = np.round(reads["stale_age_ms"].to_numpy(dtype=float) * 1e6)
    start = reads["t_start_ns"].to_numpy(dtype=np.int64)
    stale = reads["stale"].to_numpy(dtype=bool)
    return np.where(stale, start - np.nan_to_num(age_ns).astype(np.int64), -1)


def attribute(reads: pd.DataFrame, windows: pd.DataFrame) -> np.ndarray:
    """For each read, the index (in `windows`) of the fault its staleness is, else -1.

    Where windows of one strategy overlap, the earlier fault takes the read."""
    owner = np.full(len(reads), -1, dtype=np.int64)
    if windows.empty or reads.empty:
        return owner
    missed = missed_ack_ns(reads)
    strategy = reads["strategy"].astype(str).to_numpy()
    for window in windows.sort_values("window_start_ns").itertuples():
        inside = ((strategy == window.strategy) & (missed >= window.window_start_ns)
                  & (missed <= window.window_end_ns) & (owner < 0))  # fmt: skip
        owner[inside] = windows.index.get_loc(window.Index)
    return owner


def fault_effects(
    requests: pd.DataFrame, reads: pd.DataFrame, faults: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per fault (`EFFECT_COLUMNS`, times in ms; the window in s since the
    strategy's first request, as the timeline counts), and each read's owner (index
    into the applied faults, -1 for the strategy's own)."""
    if faults.empty:
        return pd.DataFrame(columns=list(EFFECT_COLUMNS)), np.full(len(reads), -1)
    applied = windows(faults)
    owner = attribute(reads, applied)
    errors = ~answered(requests)
    t0 = starts_ns(requests)  # the timeline's second 0, per strategy
    rows = []
    for row in faults.itertuples():
        effect = {"strategy": row.strategy, "fault": fault_name(row), "kind": row.kind,
                  "arg": row.arg, "at_s": row.at_s, "for_s": row.for_s, "status": row.status,
                  "stale_reads": 0, "oldest_stale_age_ms": math.nan,
                  "last_stale_after_end_ms": math.nan, "errors": 0, "requests": 0,
                  "window_start_s": math.nan, "window_end_s": math.nan}  # fmt: skip
        if row.Index in applied.index:
            window = applied.loc[row.Index]
            mine = reads[owner == applied.index.get_loc(row.Index)]
            during = (requests["strategy"] == row.strategy) & requests["t_start_ns"].between(
                window["window_start_ns"], window["window_end_ns"]
            )
            effect |= {"stale_reads": len(mine), "errors": int((during & errors).sum()),
                       "requests": int(during.sum())}  # fmt: skip
            if row.strategy in t0.index:  # seconds on the timeline's clock, for the plot
                zero = t0[row.strategy]
                effect |= {"window_start_s": (window["window_start_ns"] - zero) / 1e9,
                           "window_end_s": (window["window_end_ns"] - zero) / 1e9}  # fmt: skip
            if len(mine):
                last = (mine["t_start_ns"].max() - window["window_end_ns"]) / 1e6
                effect |= {"oldest_stale_age_ms": float(mine["stale_age_ms"].max()),
                           "last_stale_after_end_ms": max(0.0, float(last))}  # fmt: skip
        rows.append(effect)
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS)), owner
