"""The probe: how long after a write's acknowledgement does each replica serve it?

Runs as its own process beside the load, on probe-only products that no
scenario reads or writes. One cycle: warm the key on every replica until each
answers from its cache; write it through one replica (round robin); poll every
replica every POLL_MS until it returns the new version or more.

A poll sent at s and answered at r saw the replica at some instant in [s, r], so
a replica turned fresh between the send of its last stale poll and the answer
of its first fresh one. Both are recorded relative to the write's ack:
`convergence_ms` (first fresh answer - ack, the upper bound quoted in the
summary) and `convergence_lo_ms` (last stale send - ack, 0 when no poll after
the ack saw stale data). A cycle that reaches its cap is recorded as censored.

aiohttp rather than httpx: one poll round over three replicas costs about a
third as much, and the probe must measure the strategy, not itself.
"""

import argparse
import asyncio
import contextlib
import csv
import itertools
import json
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

COLUMNS = ["strategy", "cycle", "key", "writer", "replica", "ack_ns", "convergence_ms",
           "convergence_lo_ms", "polls", "poll_interval_ms", "censored"]  # fmt: skip
WARM_TIMEOUT_S = 2.0
CYCLE_PAUSE_S = 0.05  # between cycles: the probe samples, it does not add load
CAP_MARGIN_S = 2.0


@dataclass
class ReplicaWatch:
    """What the polls of one replica saw in one cycle (perf_counter ns)."""

    url: str
    last_stale_send: int | None = None
    first_fresh_answer: int | None = None
    polls: int = 0


@dataclass
class Cycle:
    number: int
    key: int
    writer: int
    ack_ns: int = 0  # wall clock, to line up with the request rows
    ack_perf: int = 0
    watches: list[ReplicaWatch] = field(default_factory=list)
    round_starts: list[int] = field(default_factory=list)
    censored: bool = False


async def get_version(session: aiohttp.ClientSession, url: str) -> tuple[int | None, str]:
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            return None, ""
        return json.loads(body)["version"], response.headers.get("X-Cache", "")


async def warm(session: aiohttp.ClientSession, targets: list[str], key: int) -> None:
    """Read until every replica answers from a cache tier, so the write has something to undo."""
    deadline = time.monotonic() + WARM_TIMEOUT_S
    pending = list(targets)
    while pending and time.monotonic() < deadline:
        results = await asyncio.gather(
            *(get_version(session, f"{t}/products/{key}") for t in pending)
        )
        pending = [t for t, (_, cache) in zip(pending, results, strict=True) if cache == "miss"]


async def poll_once(
    session: aiohttp.ClientSession, watch: ReplicaWatch, key: int, version: int
) -> None:
    sent = time.perf_counter_ns()
    try:
        seen, _ = await get_version(session, f"{watch.url}/products/{key}")
    except (aiohttp.ClientError, TimeoutError):
        return
    answered = time.perf_counter_ns()
    watch.polls += 1
    if seen is not None and seen >= version:
        watch.first_fresh_answer = answered
    elif seen is not None:
        watch.last_stale_send = sent


async def run_cycle(
    session: aiohttp.ClientSession, targets: list[str], cycle: Cycle, poll_s: float, cap_s: float
) -> None:
    await warm(session, targets, cycle.key)
    async with session.patch(
        f"{targets[cycle.writer]}/products/{cycle.key}", json={"name": f"probe-{cycle.number}"}
    ) as response:
        body = await response.read()
        cycle.ack_perf = time.perf_counter_ns()
        cycle.ack_ns = time.time_ns()
        if response.status != 200:
            raise RuntimeError(f"probe write answered {response.status}: {body[:200]!r}")
    version = json.loads(body)["version"]
    cycle.watches = [ReplicaWatch(url) for url in targets]
    deadline = cycle.ack_perf + int(cap_s * 1e9)
    next_round = time.perf_counter()
    while True:
        pending = [w for w in cycle.watches if w.first_fresh_answer is None]
        if not pending:
            return
        if time.perf_counter_ns() > deadline:
            cycle.censored = True
            return
        cycle.round_starts.append(time.perf_counter_ns())
        await asyncio.gather(*(poll_once(session, w, cycle.key, version) for w in pending))
        next_round += poll_s
        await asyncio.sleep(max(0.0, next_round - time.perf_counter()))


def cycle_rows(strategy: str, names: list[str], cycle: Cycle) -> list[list[object]]:
    starts = cycle.round_starts
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(starts)]
    interval = statistics.fmean(gaps) if gaps else ""
    rows = []
    for index, watch in enumerate(cycle.watches):
        upper = (
            ""
            if watch.first_fresh_answer is None
            else (watch.first_fresh_answer - cycle.ack_perf) / 1e6
        )
        lower = (
            0.0
            if watch.last_stale_send is None
            else max(0.0, (watch.last_stale_send - cycle.ack_perf) / 1e6)
        )
        fresh = watch.first_fresh_answer is not None
        rows.append(
            [strategy, cycle.number, cycle.key, names[cycle.writer], names[index], cycle.ack_ns,
             upper, lower, watch.polls, interval, not fresh]
        )  # fmt: skip
    return rows


async def probe(args: argparse.Namespace, stop: asyncio.Event) -> int:
    targets = args.targets.split(",")
    keys = [int(k) for k in args.keys.split(",")]
    names = args.names.split(",") if args.names else [str(i) for i in range(len(targets))]
    cap_s = args.ttl + CAP_MARGIN_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.duration
    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(limit_per_host=2, force_close=False)
    cycles = 0
    with args.out.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while not stop.is_set() and time.monotonic() < deadline:
                cycle = Cycle(cycles, keys[cycles % len(keys)], cycles % len(targets))
                await run_cycle(session, targets, cycle, args.poll_ms / 1000, cap_s)
                writer.writerows(cycle_rows(args.strategy, names, cycle))
                out.flush()  # a stop loses at most the cycle in flight
                cycles += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), CYCLE_PAUSE_S)
    return cycles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.probe", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--targets", required=True, help="comma-separated replica base URLs")
    parser.add_argument("--names", default="", help="replica names, in --targets order")
    parser.add_argument("--keys", required=True, help="comma-separated probe-only product ids")
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--ttl", type=float, required=True, help="CACHE_TTL; cap = TTL + 2 s")
    parser.add_argument("--duration", type=float, required=True, help="seconds, at most")
    args = parser.parse_args(argv)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await probe(args, stop)

    cycles = asyncio.run(run())
    print(f"probe: {cycles} cycles written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
