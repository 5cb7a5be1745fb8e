"""One group's figures (a strategy, or a sweep cell): what its requests cost, how fresh
its reads were, and how fast its replicas served the probe's writes.

Pure functions of the rows of one group; `bench.analysis.summary` groups the run and
puts each group's figures in a row of summary.csv. Times in ms, ratios 0..1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.staleness import answered
from bench.analysis.tables import MISS, STALE, hits
from scenarios.request_rows import UNPARSEABLE

LATE_MS = 1.0  # an open-loop arrival sent later than this after its intended time is late


def _quantile(values: pd.Series, q: float) -> float:
    """Linear-interpolation quantile at full precision; NaN for no values."""
    return float(values.quantile(q)) if len(values) else math.nan


def _quantiles(values: pd.Series, qs: list[float]) -> list[float]:
    """`_quantile` at each of `qs` from one selection instead of one per quantile (the
    same figures: pandas' quantile is numpy's, missing values left out)."""
    array = values.to_numpy(dtype=float, na_value=np.nan)
    array = array[~np.isnan(array)]
    return [float(v) for v in np.quantile(array, qs)] if array.size else [math.nan] * len(qs)


def censored_quantile(observed: np.ndarray, censored: int, q: float) -> float:
    """Quantile (numpy's linear method) of a sample whose `censored` values exceed the cap.

    A censored probe cycle never saw the new version before its cap, so its convergence
    is larger than every observed one: it counts as +inf. The result is inf whenever the
    quantile reaches into the censored tail, so censoring is never hidden. Unit: as given.
    """
    total = observed.size + censored
    if total == 0:
        return math.nan
    values = np.sort(observed)
    position = (total - 1) * q
    below, above = math.floor(position), math.ceil(position)
    if above >= values.size:
        return math.inf
    return float(values[below] + (position - below) * (values[above] - values[below]))


def request_stats(rows: pd.DataFrame, load_s: float | None = None) -> dict[str, float]:
    """Counts, rate and latency (ms).

    `rps` is requests over `load_s`, the load's own duration (Locust's run time, as
    run.json records it), as Locust's console counts it; without one (a run that
    stopped mid-load) over the rows' span, first send to last answer.
    `errors` counts every request that was not answered (`answered`): status 0 (no
    answer, a timeout, unanswered at the load's end), 3xx and above, and a 2xx whose body
    did not read, which `unparseable` counts apart. `reads` counts op read and list,
    so reads + writes = requests. Latency percentiles are over answered requests only;
    `read_*` covers op read only (list latency is in latency_cdf.csv, not here):
    `read_server_*` as the replica timed it (Server-Timing), `read_intended_*` from the
    open-loop schedule's intended start. `arrivals_late` counts requests (any op) sent
    more than LATE_MS after their intended time; NaN, as the intended figures, in a
    closed-loop run.
    """
    span_s = (rows["t_end_ns"].max() - rows["t_start_ns"].min()) / 1e9 if len(rows) else 0.0
    seconds = load_s if load_s is not None and load_s > 0 else span_s
    ok = answered(rows)
    op = rows["op"]  # compared as it is: a categorical needs no string per row
    read_ms = rows.loc[ok & (op == "read"), "latency_ms"]
    server_ms = rows.loc[ok & (op == "read"), "server_ms"]  # columns `load_requests` ensures
    intended = rows["t_intended_ns"]
    scheduled = intended.notna()
    # open loop: from the moment the schedule meant to send it, queueing in the generator
    # included; closed loop has no schedule, so these stay NaN
    from_intended = (rows["t_end_ns"] - intended)[ok & (op == "read") & scheduled] / 1e6
    lateness = (rows["t_start_ns"] - intended)[scheduled] / 1e6
    write_ms = rows.loc[ok & (op == "write"), "latency_ms"]
    read_p50, read_p90, read_p99, read_p999, read_max = _quantiles(
        read_ms, [0.5, 0.9, 0.99, 0.999, 1.0]
    )
    server_p50, server_p99 = _quantiles(server_ms, [0.5, 0.99])
    intended_p50, intended_p99 = _quantiles(from_intended.astype(float), [0.5, 0.99])
    write_p50, write_p99 = _quantiles(write_ms, [0.5, 0.99])
    return {
        "requests": len(rows),
        "rps": len(rows) / seconds if seconds > 0 else math.nan,
        "errors": int((~ok).sum()),
        "unparseable": int((rows["error"] == UNPARSEABLE).sum()) if "error" in rows else 0,
        "reads": int(op.isin(["read", "list"]).sum()),
        "writes": int((op == "write").sum()),
        "read_p50_ms": read_p50,
        "read_p90_ms": read_p90,
        "read_p99_ms": read_p99,
        "read_p999_ms": read_p999,
        "read_max_ms": read_max,
        # the same reads as the replica timed them (Server-Timing); NaN if it did not say
        "read_server_p50_ms": server_p50,
        "read_server_p99_ms": server_p99,
        "read_intended_p50_ms": intended_p50,
        "read_intended_p99_ms": intended_p99,
        "arrivals_late": int((lateness > LATE_MS).sum()) if scheduled.any() else math.nan,
        "arrival_lateness_p99_ms": _quantile(lateness.astype(float), 0.99),
        "write_p50_ms": write_p50,
        "write_p99_ms": write_p99,
    }


def read_stats(reads: pd.DataFrame) -> dict[str, float]:
    """Hit ratios and staleness over answered reads (op read and list), which the checker
    judged (`reads_checked`: a failed read is neither fresh nor stale).

    Ratios are 0..1 (NaN with no reads); `hit_ratio` counts answers from the local tier
    or Redis (`HIT_CACHE_VALUES`, a `stale` answer included) among the reads that carried
    X-Cache (NaN when none did: a service that does not say), `local_hit_ratio` the local
    tier alone. Stale ages are ms, NaN when no read was stale. `list_stale_ratio` is the
    stale share of list reads alone.

    Two kinds of stale: `stale_read_ratio` is content-based, the share whose value was
    older than an acknowledged write (a missed invalidation, a race), whatever the cache
    said; `stale_by_design_ratio` is the share the strategy itself marked `stale`, served
    on purpose past its soft TTL (0.0 for strategies that never do). One can be high
    without the other: a value past its soft TTL is often still the newest.

    Where a stale read was served: `stale_reads_origin` from the origin itself (`X-Cache:
    miss`: a read replica was behind), `stale_reads_cached` from a cache tier (an old value
    put back, the one that outlives a replica's lag), each with its oldest age in ms
    (NaN when there is none). A read without X-Cache is in neither.
    """
    cache = reads["cache"]
    stale = reads["stale"].astype(bool)
    ages = reads.loc[stale, "stale_age_ms"]
    age_p50, age_p99, age_max = _quantiles(ages, [0.5, 0.99, 1.0])
    is_list = reads["op"] == "list"
    return {
        "reads_checked": len(reads),
        "hit_ratio": float(hits(cache).mean()) if len(reads) else math.nan,
        "local_hit_ratio": said_share(cache, "local"),
        "stale_reads": int(stale.sum()),
        "stale_read_ratio": float(stale.mean()) if len(reads) else math.nan,
        "stale_by_design_ratio": said_share(cache, STALE),
        "stale_age_p50_ms": age_p50,
        "stale_age_p99_ms": age_p99,
        "stale_age_max_ms": age_max,
        "list_stale_ratio": float(stale[is_list].mean()) if is_list.any() else math.nan,
        **served_stale(cache, stale, reads["stale_age_ms"]),
        # Over ALL reads, a fresh one counting 0 ms: "99% of reads were at most this stale".
        # Unlike the stale-age quantiles (over stale reads only), a handful of rare races
        # cannot swing it, which is what a staleness budget needs.
        "read_staleness_p99_ms": _quantile(reads["stale_age_ms"].where(stale, 0.0), 0.99),
    }


def served_stale(cache: pd.Series, stale: pd.Series, age_ms: pd.Series) -> dict[str, float]:
    """Stale reads split by where they were served (see `read_stats`)."""
    from_origin = stale & (cache == MISS)
    from_cache = stale & hits(cache).eq(1.0)
    return {
        "stale_reads_origin": int(from_origin.sum()),
        "stale_reads_cached": int(from_cache.sum()),
        "stale_age_origin_max_ms": _quantile(age_ms[from_origin], 1.0),
        "stale_age_cached_max_ms": _quantile(age_ms[from_cache], 1.0),
    }


def said_share(cache: pd.Series, value: str) -> float:
    """The share of reads whose X-Cache was `value`, among those that sent one (else NaN)."""
    return float((cache == value).astype("float64").where(cache != "").mean())


def probe_stats(probe: pd.DataFrame) -> dict[str, float]:
    """Probe convergence (ms after the write's ack) over every (cycle, replica) row.

    `convergence` is the upper bound (first fresh answer), with censored rows as +inf
    (see `censored_quantile`); `convergence_lo` the lower bound (last stale send); both
    may be negative (fresh before the ack reached the probe). The bracket is upper -
    lower on uncensored rows; poll interval is the achieved median. `errors` counts the
    probe's requests that brought no version (each censors its replica's row).
    """
    censored = probe["censored"].astype(bool)
    observed = probe.loc[~censored, "convergence_ms"].dropna().to_numpy(dtype=float)
    bracket = probe.loc[~censored, "convergence_ms"] - probe.loc[~censored, "convergence_lo_ms"]
    errors = probe["errors"].dropna()  # none: a probe too old to count them, or no rows
    return {
        "probe_cycles": int(probe["cycle"].nunique()),
        "probe_convergence_p50_ms": censored_quantile(observed, int(censored.sum()), 0.5),
        "probe_convergence_p99_ms": censored_quantile(observed, int(censored.sum()), 0.99),
        "probe_convergence_max_ms": censored_quantile(observed, int(censored.sum()), 1.0),
        "probe_convergence_lo_p50_ms": _quantile(probe["convergence_lo_ms"].dropna(), 0.5),
        "probe_bracket_p50_ms": _quantile(bracket.dropna(), 0.5),
        "probe_poll_interval_ms": _quantile(probe["poll_interval_ms"].dropna(), 0.5),
        "probe_censored": int(censored.sum()),
        "probe_errors": int(errors.sum()) if len(errors) else math.nan,
    }
