"""A run folder of raw request rows, as the recorder writes them, for the tests that take
analysis and the report end to end without starting a run.

Each strategy's rows are in a file of its own named so that the files come in the
opposite of run order (as Locust's `<hostname>-<pid>.csv` may), and its latencies are
drawn from a seeded log-normal, so a percentile differs from its neighbours on any grid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scenarios.request_rows import COLUMNS
from tests.test_report import manifest

T0_NS = 1_700_000_000_000_000_000
MS = 1_000_000
READS_PER_S = 100  # and one write in ten requests


def strategy_rows(name: str, seconds: int, seed: int) -> pd.DataFrame:
    """`seconds` of answered reads and writes of `name`; every write to a product no read
    asks for, so no read is stale and the latencies are the only figures that differ."""
    rng = np.random.default_rng(seed)
    n = seconds * READS_PER_S
    start_ns = T0_NS + np.arange(n) * (1_000_000_000 // READS_PER_S)
    latency_ms = np.round(rng.lognormal(mean=0.0, sigma=0.8, size=n), 3)
    write = np.arange(n) % 10 == 9
    rows = {
        "strategy": name,
        "op": np.where(write, "write", "read"),
        "key": np.where(write, 900 + np.arange(n) % 50, 1 + np.arange(n) % 100).astype(str),
        "t_start_ns": start_ns,
        "t_end_ns": start_ns + np.round(latency_ms * MS).astype("int64"),
        "latency_ms": latency_ms,
        "status": 200,
        "version": np.where(write, 2, 1),
        "items": "",
        "cache": np.where(write, "miss", "redis"),
        "replica": f"{name}-1",
        "worker": "w",
        "server_ms": "",
        "t_intended_ns": "",
        "error": "",
    }
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_raw_run(
    folder: Path, order: Sequence[str], seconds: int = 5, config: dict[str, Any] | None = None
) -> Path:
    """A complete run of `order` (run order) with raw request rows only; `config` adds to
    run.json's config. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data = manifest(tuple(order), "complete", None)
    data["config"] |= {"duration_s": float(seconds), **(config or {})}
    for record in data["strategies"].values():
        record["load_s"] = seconds
    (folder / "run.json").write_text(json.dumps(data))
    requests = folder / "requests"
    requests.mkdir()
    for i, name in enumerate(order):  # host-9-... first: files in reverse run order
        rows = strategy_rows(name, seconds, seed=i)
        rows.to_csv(requests / f"host-{len(order) - i}-{100 + i}.csv", index=False)
    return folder
