"""The lag the origin's read replica really had, measured once a second during the load.

A marker row is written on the primary and the replica is polled until it shows it: the
time from the primary's commit to the replica's first answer with it is one sample, in
`origin_lag/<strategy>.csv` (wall ns of the write, lag ms, censored). Asked for L ms
(`recovery_min_apply_delay`), a sample is L plus the replica's own apply and the poll. A
marker the replica has not shown after GIVE_UP_S is kept as a lower bound (`censored` 1,
the time waited), never left out: a stalled replica must raise the lag's max, not hide it.
One cut short by the end of the load is no sample at all.
"""

from __future__ import annotations

import asyncio
import csv
import threading
import time
from pathlib import Path

import asyncpg

INTERVAL_S = 1.0
POLL_S = 0.002
GIVE_UP_S = 10.0  # a marker unseen this long is a censored sample: at least this lag
COLUMNS = ("t_ns", "lag_ms", "censored")


class LagMeter:
    """Samples the replica's lag from a thread of its own until stopped."""

    def __init__(
        self, primary_url: str, replica_url: str, out: Path, give_up_s: float = GIVE_UP_S
    ) -> None:
        self.primary_url, self.replica_url, self.out = primary_url, replica_url, out
        self.give_up_s = give_up_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="origin-lag", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> LagMeter:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.give_up_s + 5)

    def _run(self) -> None:
        try:
            asyncio.run(self._sample())
        except Exception as exc:  # a lost origin ends the sampling, never the run
            self.error = exc

    async def _sample(self) -> None:
        primary = await asyncpg.connect(self.primary_url, timeout=5)
        replica = await asyncpg.connect(self.replica_url, timeout=5)
        try:
            await primary.execute("CREATE TABLE IF NOT EXISTS bench_lag (id INT PRIMARY KEY,"
                                  " mark BIGINT NOT NULL)")  # fmt: skip
            with self.out.open("a", newline="") as file:
                writer = csv.writer(file)
                if file.tell() == 0:
                    writer.writerow(COLUMNS)
                mark = 0
                while not self._stop.is_set():
                    mark += 1
                    sample = await self._one(primary, replica, mark)
                    if sample is not None:
                        lag_ms, wrote_ns, censored = sample
                        writer.writerow((wrote_ns, f"{lag_ms:.3f}", int(censored)))
                        file.flush()
                    await asyncio.to_thread(self._stop.wait, INTERVAL_S)
        finally:
            await replica.close()
            await primary.close()

    async def _one(
        self, primary: asyncpg.Connection, replica: asyncpg.Connection, mark: int
    ) -> tuple[float, int, bool] | None:
        """Write `mark`, then poll the replica until it shows it: (ms, wall ns of the write,
        censored); None when the load ended first."""
        await primary.execute("INSERT INTO bench_lag VALUES (1, $1) ON CONFLICT (id)"
                              " DO UPDATE SET mark = $1", mark)  # fmt: skip
        committed, wrote_ns = time.perf_counter(), time.time_ns()
        while time.perf_counter() - committed < self.give_up_s and not self._stop.is_set():
            try:
                seen = await replica.fetchval("SELECT mark FROM bench_lag WHERE id = 1")
            except asyncpg.UndefinedTableError:  # the table itself is not replayed yet
                seen = None
            if seen is not None and seen >= mark:
                return (time.perf_counter() - committed) * 1000, wrote_ns, False
            await asyncio.sleep(POLL_S)
        if self._stop.is_set():
            return None
        return (time.perf_counter() - committed) * 1000, wrote_ns, True
