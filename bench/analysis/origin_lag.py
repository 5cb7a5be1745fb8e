"""The origin read replica's lag as the harness sampled it (`origin_lag/<strategy>.csv`,
one sample a second during the load), per strategy: p50 and max, in ms. A censored sample
(the replica never showed the marker before the meter gave up) counts at its lower bound,
so a stalled replica's max says "at least this long"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.layout import RunFolder

STAT_COLUMNS: tuple[str, ...] = ("origin_lag_ms_p50", "origin_lag_ms_max")


def origin_lag(folder: Path) -> pd.DataFrame:
    """Per strategy (index) `STAT_COLUMNS`, in ms; no row for a strategy without samples
    (no read replica, or an older run)."""
    stats = {}
    for path in sorted((RunFolder(folder).path / "origin_lag").glob("*.csv")):
        lag = pd.read_csv(path, on_bad_lines="skip")["lag_ms"].dropna()
        if len(lag):
            stats[path.stem] = {"origin_lag_ms_p50": float(lag.quantile(0.5)),
                                "origin_lag_ms_max": float(lag.max())}  # fmt: skip
    return pd.DataFrame.from_dict(stats, orient="index", columns=list(STAT_COLUMNS))
