"""`bench perf-analysis`: how the analysis of a run scales with its request rows.

An hour of Locust's distributed mode at 3,000 req/s is 10.8 million rows. This builds a
synthetic run of N rows in a scratch folder, chunk by chunk so that building it needs
little memory whatever N is, with a run's mix: three strategies one after another,
reads, writes and category lists, replicas and workers, and versions that go stale (a
read now and then returns the version before the latest acknowledged write; list bodies
come from a fixed pool, so most lists read stale: the checker's heaviest case), each file
with its Parquet copy as the recorder writes it. Then it
analyses the folder in a child process, as `bench report` would, and prints per N the
analysis wall time, rows per second and the child's peak resident memory. A watchdog
stops a child whose memory passes `--max-rss-gib`, so a run too large for the machine
ends in a line saying so, not in the kernel's OOM killer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.layout import RunFolder
from bench.manifest import Manifest
from bench.run_config import RunConfig
from scenarios.parquet_copy import ParquetCopy
from scenarios.request_rows import COLUMNS, RowWriter
from services.strategies import STRATEGY_NAMES

STRATEGIES = STRATEGY_NAMES[:3]  # labels of the synthetic rows; any three would do
PRODUCTS, CATEGORIES = 1000, 10
CHUNK_ROWS = 500_000
MIX = {"read": 0.8, "write": 0.1, "list": 0.1}
STALE_SHARE = 0.02  # of reads, given the version before the latest write
T0_NS = 1_800_000_000_000_000_000
STRATEGY_SPAN_NS = 3600 * 10**9  # each strategy's hour of load
ANALYSE = """
import resource, sys, time
from pathlib import Path
from bench.analysis.summary import write_analysis
began = time.perf_counter()
write_analysis(Path(sys.argv[1]))
print(time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


class PerfError(Exception):
    """The measurement could not be made (a child failed, or passed the memory cap)."""


@dataclass(frozen=True)
class Measured:
    rows: int
    wall_s: float
    peak_rss_bytes: int

    def line(self) -> str:
        return (f"rows {self.rows:>12,}  analysis {self.wall_s:7.1f} s"
                f"  {self.rows / self.wall_s:>11,.0f} rows/s"
                f"  peak {self.peak_rss_bytes / 2**30:5.2f} GiB")  # fmt: skip


def list_bodies(rng: np.random.Generator, per_category: int = 20) -> list[list[str]]:
    """Per category, a pool of list bodies (`id:version ...`), as cached lists repeat."""
    return [
        [" ".join(f"{p}:{v}" for p, v in zip(ids, rng.integers(1, 60, len(ids)), strict=True))
         for _ in range(per_category)]
        for ids in (range(c + 1, PRODUCTS + 1, CATEGORIES) for c in range(CATEGORIES))
    ]  # fmt: skip


def chunk_frame(
    rng: np.random.Generator, strategy: str, rows: int, t0_ns: int, span_ns: int,
    writes_before: np.ndarray, bodies: list[list[str]],
) -> pd.DataFrame:  # fmt: skip
    """`rows` requests of one strategy in [t0, t0 + span); `writes_before[p]` counts the
    writes to product p in earlier chunks and is brought up to date."""
    op = rng.choice(list(MIX), size=rows, p=list(MIX.values()))
    start = t0_ns + np.sort(rng.integers(0, span_ns, size=rows))
    latency_ns = rng.integers(200_000, 5_000_000, size=rows)
    product = rng.integers(1, PRODUCTS + 1, size=rows)
    is_write, is_list = op == "write", op == "list"
    so_far = pd.Series(is_write.astype(np.int64)).groupby(product).cumsum().to_numpy()
    prior = writes_before[product] + so_far - is_write  # writes before this one
    writes_before += np.bincount(product[is_write], minlength=PRODUCTS + 1)
    stale = (~is_write) & (prior > 0) & (rng.random(rows) < STALE_SHARE)
    version = 1 + prior + is_write - stale
    category = (product - 1) % CATEGORIES
    pick = rng.integers(0, len(bodies[0]), size=rows)
    items = np.array([bodies[c][i] for c, i in zip(category[is_list], pick[is_list],
                                                   strict=True)], dtype=object)  # fmt: skip
    frame = pd.DataFrame({
        "strategy": strategy,
        "op": op,
        "key": np.where(is_list, "c" + category.astype(str), product.astype(str)),
        "t_start_ns": start,
        "t_end_ns": start + latency_ns,
        "latency_ms": latency_ns / 1e6,
        "status": np.where(rng.random(rows) < 0.001, 0, 200),
        "version": np.where(is_list, "", version.astype(str)),
        "items": "",
        "cache": rng.choice(["redis", "miss", "local"], size=rows, p=[0.7, 0.2, 0.1]),
        "replica": rng.choice([f"{strategy}-{i}" for i in (1, 2, 3)], size=rows),
        "worker": rng.choice(["loadgen-1", "loadgen-2"], size=rows),
        "server_ms": np.round(latency_ns / 3e6, 3),
        "t_intended_ns": "",
    })  # fmt: skip
    frame["error"] = np.where(frame["status"] == 0, "timeout", "")
    frame.loc[is_list, "items"] = items
    return frame[list(COLUMNS)]


def synthetic_run(folder: Path, rows: int, seed: int = 1, copies: bool = True) -> None:
    """A run folder of `rows` request rows (run.json and requests/*.csv, with their
    Parquet copies unless not `copies`), built in chunks."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    config = RunConfig(strategies=STRATEGIES, duration_s=STRATEGY_SPAN_NS / 1e9)
    Manifest(folder, config.as_json()).finish("complete")
    requests = RunFolder(folder).requests
    requests.mkdir(parents=True, exist_ok=True)
    bodies = list_bodies(rng)
    shares = np.diff(np.linspace(0, rows, len(STRATEGIES) + 1).astype(np.int64))
    for s, (strategy, strategy_rows) in enumerate(zip(STRATEGIES, shares, strict=True)):
        writes_before = np.zeros(PRODUCTS + 1, dtype=np.int64)
        chunks = max(1, -(-int(strategy_rows) // CHUNK_ROWS))
        bounds = np.linspace(0, strategy_rows, chunks + 1).astype(np.int64)
        span = STRATEGY_SPAN_NS // chunks
        for c in range(chunks):
            t0 = T0_NS + s * 2 * STRATEGY_SPAN_NS + c * span
            frame = chunk_frame(rng, strategy, int(bounds[c + 1] - bounds[c]), t0, span,
                                writes_before, bodies)  # fmt: skip
            path = requests / f"{strategy}-{c:04d}.csv"
            writer = RowWriter(path, copy=ParquetCopy(path) if copies else None)  # as recorded
            writer.deliver([frame.to_csv(index=False, header=False)])
            writer.close()


def measure_child(folder: Path, rows: int, max_rss_bytes: int) -> Measured:
    """Analyse `folder` (of `rows` rows) in a fresh interpreter: its own clock and peak
    RSS, or PerfError."""
    child = subprocess.Popen([sys.executable, "-c", ANALYSE, str(folder)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    while child.poll() is None:
        if rss_bytes(child.pid) > max_rss_bytes:
            child.kill()
            child.wait()
            raise PerfError(f"{rows:,} rows: analysis passed {max_rss_bytes / 2**30:.0f} GiB"
                            " of memory and was stopped")  # fmt: skip
        time.sleep(0.05)
    out, err = child.communicate()
    if child.returncode != 0:
        raise PerfError(f"{rows:,} rows: analysis failed: {err.strip().splitlines()[-1:]}")
    wall_s, peak = out.split()[-2:]
    return Measured(rows, float(wall_s), int(peak))


def rss_bytes(pid: int) -> int:
    """The process's resident memory now (Linux), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(rows: int, max_rss_gib: float, keep: Path | None = None,
            copies: bool = True) -> Measured:  # fmt: skip
    """Build a synthetic run of `rows` rows (with Parquet copies unless not `copies`),
    analyse it, measure; the run is removed afterwards unless `keep` names where to
    build it."""
    folder = keep or Path(tempfile.mkdtemp(prefix="bench-perf-analysis-"))
    try:
        synthetic_run(folder, rows, copies=copies)
        return measure_child(folder, rows, int(max_rss_gib * 2**30))
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
