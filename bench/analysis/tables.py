"""Reading the run folder's tables: the raw rows, with their one schema, and analysis output.

The raw rows' columns and dtypes are stated once, where they are written:
`scenarios.request_rows.DTYPES` (the Locust recorder) and `bench.probe.cycle.DTYPES`
(the probe).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.layout import RunFolder
from bench.probe import cycle
from scenarios import request_rows


def read_csvs(folder: Path, dtypes: dict[str, str]) -> pd.DataFrame:
    """All non-empty CSVs of `folder` concatenated; an empty frame with `dtypes` if none."""
    files = sorted(p for p in folder.glob("*.csv") if p.stat().st_size > 0)
    frames = [pd.read_csv(p, engine="pyarrow", dtype=dtypes) for p in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    return pd.concat(frames, ignore_index=True)


def load_requests(folder: Path) -> pd.DataFrame:
    """The request rows of every Locust process (`folder/requests/*.csv`), in file order.

    Times are int64 ns, `latency_ms` float ms, `version` nullable int, `items` "" when
    absent.
    """
    requests = read_csvs(RunFolder(folder).requests, request_rows.DTYPES)
    for column in ("items", "cache"):
        requests[column] = requests[column].fillna("")
    return requests


def load_probe(folder: Path) -> pd.DataFrame:
    """The probe rows (`folder/probe/*.csv`), `censored` as bool; empty when absent."""
    probe = read_csvs(RunFolder(folder).probe, cycle.DTYPES)
    probe["censored"] = probe["censored"].fillna("").str.lower().isin(["true", "1"])
    return probe


def read_table(path: Path) -> pd.DataFrame:
    """A CSV of analysis output, or an empty frame when analysis did not write it.

    `strategy` is read as text even when a name looks like a number.
    """
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, dtype={"strategy": str})
