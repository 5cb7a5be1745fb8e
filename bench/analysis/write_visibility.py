"""Write visibility, as Meta's Skybridge paper states it: the share of writes visible on
every replica within t of being acknowledged.

t-visibility (`staleness.t_visibility`) asks of reads: how many were fresh t after a write.
This asks of writes: how many had reached every replica by t, the figure a design review
quotes as "99.9% of writes visible everywhere within 10 ms". From the probe's rows: a
cycle is one write, visible everywhere when its slowest replica answered fresh (the
upper bound of its bracket, so the share is conservative). A censored cycle, some
replica never fresh before the cap, is visible at no t. Pure: probe rows in, a table out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bench.analysis.staleness import nines

WRITE_VISIBILITY_MS: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 2000.0)
COLUMNS: tuple[str, ...] = ("strategy", "t_ms", "writes", "visible_share", "nines")


def write_visibility(
    probe: pd.DataFrame, t_ms: Sequence[float] = WRITE_VISIBILITY_MS
) -> pd.DataFrame:
    """Per strategy and t (ms after the ack): `writes` probed, the share visible on every
    replica by then (0..1), and its nines (inf when all were, NaN with no writes)."""
    if probe.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    upper = probe["convergence_ms"].where(~probe["censored"].astype(bool))
    everywhere = (
        probe.assign(upper=upper.fillna(float("inf")))
        .groupby(["strategy", "cycle"], sort=False, observed=True)["upper"]
        .max()
    )
    rows = []
    for strategy, cycles in everywhere.groupby(level="strategy", sort=False):
        for t in t_ms:
            share = float((cycles <= t).mean())
            rows.append((strategy, float(t), len(cycles), share, nines(share)))
    return pd.DataFrame(rows, columns=list(COLUMNS))
