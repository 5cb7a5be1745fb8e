"""Each Locust worker's clock against its master's, measured NTP-style over Locust's channel.

A stale read is judged by comparing a read's send time (one host's clock) with a write's
acknowledgement (maybe another host's), so a skew of a few milliseconds between hosts
would turn fresh reads into false stale reads. Every `EVERY_S` seconds (and at start) a
worker sends `SAMPLES` timestamped pings; the master answers each with its own time. A
sample with round trip `rtt` puts the master's clock at `offset = t_master - (t1 + t4)/2`
ahead of the worker's, within `rtt/2` (the answer was stamped somewhere inside the round
trip); the sample with the lowest round trip is kept. The master appends each estimate to
`clocks.csv` in the run folder (`COLUMNS`), and analysis maps every row onto the master's
clock and treats its uncertainty as in flight (`bench.analysis.clocks`).

`BENCH_CLOCK_SKEW_MS` (a test-only setting) shifts a worker's clock, rows and pings alike,
to show what a skewed host does to the verdicts with and without the correction.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.event import AsyncResult

logger = logging.getLogger(__name__)

PING, PONG, ESTIMATE = "bench_clock_ping", "bench_clock_pong", "bench_clock"
SAMPLES = 5
EVERY_S = 5.0
PONG_TIMEOUT_S = 1.0
CLOCKS_FILE = "clocks.csv"
COLUMNS = ("strategy", "worker", "t_ns", "offset_ns", "uncertainty_ns", "rtt_ns")


def skew_ns(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """The test-only shift of this process's clock, in ns (0 unless set)."""
    return int(float(environ.get("BENCH_CLOCK_SKEW_MS", "0") or 0) * 1e6)


def estimate(t1: int, t_master: int, t4: int) -> tuple[int, int]:
    """(offset, round trip) in ns of one ping sent at `t1` and answered at `t4` (the
    worker's clock) by a master that stamped `t_master` (its own)."""
    return t_master - (t1 + t4) // 2, t4 - t1


class WorkerClock:
    """The worker's side: pings, the lowest round trip of each round, its estimate sent."""

    def __init__(self, runner: Any, worker: str, skew: int = 0) -> None:
        self.runner = runner
        self.worker = worker
        self.skew = skew
        self.waiting: dict[int, AsyncResult] = {}
        self.seq = 0

    def now_ns(self) -> int:
        return time.time_ns() + self.skew

    def on_pong(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        waiter = self.waiting.pop(int(msg.data["seq"]), None)
        if waiter is not None:
            waiter.set((self.now_ns(), int(msg.data["t_master"])))

    def sample(self) -> tuple[int, int] | None:
        """One ping: (offset, rtt) in ns, or None when no answer came in time."""
        self.seq += 1
        waiter = self.waiting[self.seq] = AsyncResult()
        t1 = self.now_ns()
        self.runner.send_message(PING, {"worker": self.worker, "seq": self.seq})
        try:
            t4, t_master = waiter.get(timeout=PONG_TIMEOUT_S)
        except gevent.Timeout:
            self.waiting.pop(self.seq, None)
            return None
        return estimate(t1, t_master, t4)

    def round(self) -> None:
        samples = [s for s in (self.sample() for _ in range(SAMPLES)) if s is not None]
        if not samples:
            logger.warning("clock sync: no answer from the master")
            return
        offset, rtt = min(samples, key=lambda s: s[1])
        self.runner.send_message(ESTIMATE, {"worker": self.worker, "t_ns": self.now_ns(),
                                            "offset_ns": offset, "rtt_ns": rtt})  # fmt: skip

    def keep_measuring(self) -> None:
        while True:
            self.round()
            gevent.sleep(EVERY_S)


class MasterClock:
    """The master's side: answers pings with its time, appends estimates to clocks.csv."""

    def __init__(self, run_dir: Path, strategy: str) -> None:
        self.path = run_dir / CLOCKS_FILE
        self.strategy = strategy

    def on_ping(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        environment.runner.send_message(
            PONG, {"seq": msg.data["seq"], "t_master": time.time_ns()}, client_id=msg.node_id
        )

    def on_estimate(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        d = msg.data
        row = (self.strategy, str(d["worker"]), int(d["t_ns"]), int(d["offset_ns"]),
               int(d["rtt_ns"]) // 2, int(d["rtt_ns"]))  # fmt: skip
        new = not self.path.exists()
        with self.path.open("a", encoding="utf-8") as f:
            if new:
                f.write(",".join(COLUMNS) + "\n")
            f.write(",".join(map(str, row)) + "\n")


def attach_worker(environment: Any, worker: str) -> WorkerClock:
    clock = WorkerClock(environment.runner, worker, skew_ns())
    environment.runner.register_message(PONG, clock.on_pong, concurrent=True)
    gevent.spawn(clock.keep_measuring)
    return clock


def attach_master(environment: Any, run_dir: Path, strategy: str) -> MasterClock:
    clock = MasterClock(run_dir, strategy)
    environment.runner.register_message(PING, clock.on_ping)
    environment.runner.register_message(ESTIMATE, clock.on_estimate)
    return clock
