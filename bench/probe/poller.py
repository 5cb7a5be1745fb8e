"""The probe's polling: warm a key, write it, poll every replica until each serves it.

aiohttp rather than httpx: one poll round over three replicas costs about a third as
much, and the probe must measure the strategy, not itself.
"""

import argparse
import asyncio
import contextlib
import csv
import json
import time

import aiohttp

from bench.probe.cycle import COLUMNS, Cycle, ReplicaWatch, cycle_rows

WARM_TIMEOUT_S = 2.0
WARM_PAUSE_S = 0.02  # between warm-up rounds: at most 50 reads/s per replica that misses
CYCLE_PAUSE_S = 0.05  # between cycles: the probe samples, it does not add load
CAP_MARGIN_S = 2.0


async def get_version(session: aiohttp.ClientSession, url: str) -> tuple[int | None, str]:
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            return None, ""
        return json.loads(body)["version"], response.headers.get("X-Cache", "")


async def warm(session: aiohttp.ClientSession, targets: list[str], key: int) -> None:
    """Read until every replica answers from a cache tier, so the write has something to undo.

    Paced: with Redis down (a fault) no read is ever a hit, and an unpaced loop sent each
    replica ~500 origin reads a second for its whole timeout, which the timeline then
    showed as the strategy's origin load."""
    deadline = time.monotonic() + WARM_TIMEOUT_S
    pending = list(targets)
    while pending and time.monotonic() < deadline:
        results = await asyncio.gather(
            *(get_version(session, f"{t}/products/{key}") for t in pending)
        )
        pending = [t for t, (_, cache) in zip(pending, results, strict=True) if cache == "miss"]
        if pending:
            await asyncio.sleep(WARM_PAUSE_S)


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
