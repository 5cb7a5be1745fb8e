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
DENSE_S = 0.05  # after a write, poll each replica back to back for this long


async def get_version(session: aiohttp.ClientSession, url: str) -> tuple[int | None, str]:
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            return None, ""
        return json.loads(body)["version"], response.headers.get("X-Cache", "")


async def warm(session: aiohttp.ClientSession, targets: list[str], key: int) -> int | None:
    """Read until every replica answers from a cache tier, so the write has something to
    undo; the newest version seen (None if no replica answered).

    Paced: with Redis down (a fault) no read is ever a hit, and an unpaced loop sent each
    replica ~500 origin reads a second for its whole timeout, which the timeline then
    showed as the strategy's origin load."""
    deadline = time.monotonic() + WARM_TIMEOUT_S
    pending = list(targets)
    seen: list[int] = []
    while pending and time.monotonic() < deadline:
        results = await asyncio.gather(
            *(get_version(session, f"{t}/products/{key}") for t in pending)
        )
        seen += [version for version, _ in results if version is not None]
        pending = [t for t, (_, cache) in zip(pending, results, strict=True) if cache == "miss"]
        if pending:
            await asyncio.sleep(WARM_PAUSE_S)
    return max(seen, default=None)


async def poll_once(
    session: aiohttp.ClientSession, watch: ReplicaWatch, key: int, version: int
) -> None:
    sent = time.perf_counter_ns()
    watch.sends.append(sent)
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


async def write(session: aiohttp.ClientSession, url: str, cycle: Cycle) -> int:
    """The probe's write; stamps its ack and returns the version it made."""
    async with session.patch(url, json={"name": f"probe-{cycle.number}"}) as response:
        body = await response.read()
        cycle.ack_perf = time.perf_counter_ns()
        cycle.ack_ns = time.time_ns()
        if response.status != 200:
            raise RuntimeError(f"probe write answered {response.status}: {body[:200]!r}")
    return int(json.loads(body)["version"])


async def watch_replica(
    session: aiohttp.ClientSession, watch: ReplicaWatch, key: int, version: int,
    poll_s: float, deadline: int,
) -> None:  # fmt: skip
    """Poll one replica until it serves `version` or the deadline (perf_counter ns) passes:
    back to back for the first DENSE_S after the write, where the strategies that
    invalidate turn fresh and a poll interval would be most of the bracket, then every
    `poll_s`, so a replica stale until its TTL (`ttl`) is not polled flat out for 30 s."""
    dense_until = time.perf_counter() + DENSE_S
    next_send = time.perf_counter()
    while watch.first_fresh_answer is None and time.perf_counter_ns() < deadline:
        await poll_once(session, watch, key, version)
        now = time.perf_counter()
        next_send = now if now < dense_until else next_send + poll_s
        await asyncio.sleep(max(0.0, next_send - now))


async def run_cycle(
    session: aiohttp.ClientSession, targets: list[str], cycle: Cycle, poll_s: float, cap_s: float
) -> None:
    """Warm, then write and poll every replica from the moment the write is sent: a
    replica that turns fresh before the ack reaches the probe is seen doing so, and the
    bracket around that moment is not cut off at the ack.

    The new version is known before the ack: the probe alone writes its products, and a
    write moves the version by one (verify checked it); the ack must agree."""
    before = await warm(session, targets, cycle.key)
    if before is None:
        raise RuntimeError(f"no replica answered a read of probe product {cycle.key}")
    version = before + 1
    cycle.watches = [ReplicaWatch(url) for url in targets]
    cycle.sent_perf = time.perf_counter_ns()
    deadline = cycle.sent_perf + int(cap_s * 1e9)
    polls = [asyncio.create_task(watch_replica(session, w, cycle.key, version, poll_s, deadline))
             for w in cycle.watches]  # fmt: skip
    try:
        made = await write(session, f"{targets[cycle.writer]}/products/{cycle.key}", cycle)
        if made != version:
            raise RuntimeError(f"probe write of {cycle.key} made version {made}, not {version}:"
                               " something else writes probe products")  # fmt: skip
    except BaseException:
        for poll in polls:
            poll.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        raise
    await asyncio.gather(*polls)
    cycle.censored = any(w.first_fresh_answer is None for w in cycle.watches)


async def probe(args: argparse.Namespace, stop: asyncio.Event) -> int:
    targets = args.targets.split(",")
    keys = [int(k) for k in args.keys.split(",")]
    names = args.names.split(",") if args.names else [str(i) for i in range(len(targets))]
    cap_s = args.ttl + CAP_MARGIN_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.duration
    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(limit_per_host=3, force_close=False)  # a poll, the write
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
