"""White-box propagation: when each replica applied a probe write's invalidation, by its
own log (`services.invalidation_log`), lined up with the probe's black-box bracket.

The probe brackets the moment a replica turned fresh between its last stale poll's send
and its first fresh answer. The replicas log that moment from inside: a DEL between its
send and Redis's reply (`del_sent`, `del_done`), a local-tier drop exactly (`local`).
A replica serves the new version once Redis has dropped the key and, for a strategy with
a local tier, once its own copy is gone too: its white-box interval is [the later of the
DEL's send and its local drop, the later of the DEL's reply and its local drop]. Both
clocks are this machine's. Every white-box interval must meet the probe's bracket; one
that does not is an instrument fault, counted (`whitebox_outside`), never dropped.

A strategy whose invalidation is no DEL or drop (`versioned` retires a group by INCR) and
a run without logs (the compose runtime) have no white-box times. Pure but for the read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.layout import RunFolder

EVENT_COLUMNS: tuple[str, ...] = ("t_ns", "event", "key")
TOLERANCE_MS = 0.05  # two clocks read a few microseconds apart: wall and perf_counter
STAT_COLUMNS: tuple[str, ...] = ("whitebox_p50_ms", "whitebox_p99_ms", "whitebox_rows",
                                 "whitebox_outside")  # fmt: skip


def load_invalidations(folder: Path) -> pd.DataFrame:
    """Every replica's log: replica (the file's stem), t_ns, event, key; a line a killed
    replica left half-written is skipped."""
    frames = []
    for path in sorted(RunFolder(folder).invalidations.glob("*.csv")):
        frame = pd.read_csv(path, names=list(EVENT_COLUMNS), header=None, dtype=str,
                            on_bad_lines="skip")  # fmt: skip
        frame["t_ns"] = pd.to_numeric(frame["t_ns"], errors="coerce")
        frames.append(frame.dropna().assign(replica=path.stem))
    if not frames:
        return pd.DataFrame(columns=["replica", *EVENT_COLUMNS])
    events = pd.concat(frames, ignore_index=True)
    return events.astype({"t_ns": "int64"}).sort_values("t_ns", kind="stable")


def first_after(times: np.ndarray, since: int) -> int | None:
    """The first of the sorted `times` at or after `since` (ns, kept as integers: a float
    of an epoch in ns is 256 ns coarse); None when none is."""
    at = int(np.searchsorted(times, since))
    return int(times[at]) if at < len(times) else None


def whitebox(probe: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The probe rows that have a white-box interval, with it (`whitebox_lo_ms`,
    `whitebox_hi_ms`, from the ack) and whether it meets the probe's bracket (`inside`)."""
    rows = []
    usable = probe[~probe["censored"].astype(bool) & probe["sent_ms"].notna()]
    for row in usable.itertuples(index=False):
        mine = events[events["replica"].str.startswith(f"{row.strategy}-")
                      & (events["key"] == f"product:{row.key}")]  # fmt: skip
        since = int(row.ack_ns + row.sent_ms * 1e6)
        times = {e: mine.loc[mine["event"] == e, "t_ns"].to_numpy() for e in
                 ("del_sent", "del_done")}  # fmt: skip
        sent, done = (first_after(times[e], since) for e in ("del_sent", "del_done"))
        if sent is None or done is None:
            continue
        local = mine.loc[(mine["event"] == "local") & (mine["replica"] == row.replica), "t_ns"]
        dropped = first_after(local.to_numpy(), since)
        if (mine["event"] == "local").any():  # a local tier: fresh once its copy is gone too
            if dropped is None:
                continue
            sent, done = max(sent, dropped), max(done, dropped)
        lo, hi = (sent - row.ack_ns) / 1e6, (done - row.ack_ns) / 1e6
        inside = (lo <= row.convergence_ms + TOLERANCE_MS
                  and hi >= row.convergence_lo_ms - TOLERANCE_MS)  # fmt: skip
        rows.append({**row._asdict(), "whitebox_lo_ms": lo, "whitebox_hi_ms": hi,
                     "inside": inside})  # fmt: skip
    columns = [*probe.columns, "whitebox_lo_ms", "whitebox_hi_ms", "inside"]
    return pd.DataFrame(rows, columns=columns)


def whitebox_stats(table: pd.DataFrame) -> pd.DataFrame:
    """Per strategy (`STAT_COLUMNS`): the white-box time p50/p99 (ms after the ack, when
    the replica had surely applied it), rows with one, and rows outside the bracket."""
    stats = {}
    for strategy, mine in table.groupby("strategy", sort=False, observed=True):
        hi = mine["whitebox_hi_ms"].astype(float)
        outside = int((~mine["inside"].astype(bool)).sum())
        stats[strategy] = {"whitebox_p50_ms": float(hi.quantile(0.5)),
                           "whitebox_p99_ms": float(hi.quantile(0.99)),
                           "whitebox_rows": len(mine), "whitebox_outside": outside}  # fmt: skip
    return pd.DataFrame.from_dict(stats, orient="index", columns=list(STAT_COLUMNS))
