"""The probe's polling: warm a key, write it, poll every replica until each serves it.

aiohttp rather than httpx: one poll round over three replicas costs about a third as
much, and the probe must measure the strategy, not itself.

Nothing a replica does stops the probe. Every request has a deadline of its own
(POLL_TIMEOUT_S, WRITE_TIMEOUT_S), and a replica is not polled again in a cycle once a
poll of it failed (its row is censored from then on, so no later poll can change what the
row says; polled on to the cap, a killed replica held the other replicas' next cycle for
as long, and CI saw a 2 s kill with one cycle measured across it); no
redirect is followed (a 3xx is an answer without a version, sent to no other host); a
body is read by `scenarios.bodies`, as every other part of the suite reads it. A request
that brings no version (no answer in time, a refused connection, a status other than
200, a body without a top-level version) is an error of its replica in that cycle:
counted in the row's `errors`, and the row censored. A replica that does not answer the
warm-up is skipped for the cycle (its row says so) and the write goes through the next
replica that did. A cycle whose write fails is recorded as failed, every row censored,
and the next begins after FAILED_PAUSE_S; one in which no replica answered the warm-up
sends no write, records nothing and waits as long. The probe gives up (`ProbeStopped`)
only when no replica has answered at all within `give_up_s` of its start.

What goes wrong is said in the probe's log once per change (a replica starts failing, or
fails otherwise, or answers again), not once per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp

from bench.probe.cycle import COLUMNS, Cycle, ReplicaWatch, cycle_rows
from scenarios.bodies import product_version

WARM_TIMEOUT_S = 2.0  # no new warm-up read after this; one in flight may take POLL_TIMEOUT_S
WARM_PAUSE_S = 0.02  # between warm-up rounds: at most 50 reads/s per replica that misses
CYCLE_PAUSE_S = 0.05  # between cycles: the probe samples, it does not add load
FAILED_PAUSE_S = 0.5  # after a cycle that wrote nothing or whose write failed
CAP_MARGIN_S = 2.0
DENSE_S = 0.05  # after a write, poll each replica back to back for this long
POLL_TIMEOUT_S = 2.0  # one read, from send to the body's last byte
WRITE_TIMEOUT_S = 5.0  # the write: it goes through the origin, which may be slowed on purpose
GIVE_UP_S = 10.0  # no answer at all from any replica this long after the start: stop

T = TypeVar("T")


class ProbeStopped(Exception):
    """The probe cannot go on; the message says why."""


@dataclass
class Answer:
    """One request's outcome: the version it brought, or the error that it did not."""

    version: int | None
    cache: str = ""  # X-Cache, "" when absent
    error: str = ""  # set exactly when `version` is None

    @classmethod
    def failed(cls, exc: BaseException) -> Answer:
        if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
            return cls(None, error="no answer in time")
        if isinstance(exc, aiohttp.ClientConnectorError):  # its text repeats the address
            cause = exc.os_error
            said = "refused" if isinstance(cause, ConnectionRefusedError) else cause.strerror
            return cls(None, error=f"no connection ({said or type(cause).__name__})")
        return cls(None, error=f"{type(exc).__name__}: {exc}"[:200])


@dataclass
class Tally:
    """What the probe did, for its status file and its last line."""

    cycles: int = 0  # written to the CSV (failed ones included)
    failed: int = 0  # written, with a failed write
    unwritten: int = 0  # no replica answered the warm-up: no write was sent
    errors: int = 0  # failed requests, over every replica and cycle


class Health:
    """Which replicas are failing, and whether writes do: said in the log on a change."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.failing: dict[int, str] = {}
        self.write_failure = ""  # why the last write failed, "" once one went through
        self.answered = False  # some replica has brought a version since the start
        self.last_error = ""

    def saw(self, index: int, answer: Answer, cycle: int) -> None:
        name = self.names[index]
        if answer.error:
            self.last_error = f"{name}: {answer.error}"
            if self.failing.get(index) != answer.error:
                say(f"replica {name}: {answer.error} (cycle {cycle})")
            self.failing[index] = answer.error
            return
        self.answered = True
        if self.failing.pop(index, None) is not None:
            say(f"replica {name} answers again (cycle {cycle})")

    def wrote(self, cycle: Cycle) -> None:
        """A failed write said when its reason changes, and the first that went through."""
        if cycle.failed and cycle.failed != self.write_failure:
            say(f"cycle {cycle.number} failed: {cycle.failed}")
        elif self.write_failure and not cycle.failed:
            say(f"writes go through again (cycle {cycle.number})")
        self.write_failure = cycle.failed


def say(line: str) -> None:
    print(f"probe: {line}", file=sys.stderr, flush=True)


def _answer(status: int, body: bytes, cache: str) -> Answer:
    if status != 200:
        return Answer(None, error=f"answered {status}")
    version = product_version(body)
    if version is None:
        return Answer(None, error="answered 200 without a top-level version")
    return Answer(version, cache)


async def read_product(session: aiohttp.ClientSession, url: str) -> Answer:
    """GET one product: its version, never from another host than `url`'s."""
    timeout = aiohttp.ClientTimeout(total=POLL_TIMEOUT_S)
    try:
        async with session.get(url, allow_redirects=False, timeout=timeout) as response:
            body = await response.read()
            return _answer(response.status, body, response.headers.get("X-Cache", ""))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Answer.failed(exc)


async def write(session: aiohttp.ClientSession, url: str, cycle: Cycle) -> Answer:
    """The probe's write; stamps its ack (or, with no answer, when it was given up)."""
    timeout = aiohttp.ClientTimeout(total=WRITE_TIMEOUT_S)
    change = {"name": f"probe-{cycle.number}"}
    try:
        async with session.patch(url, json=change, allow_redirects=False,
                                 timeout=timeout) as response:  # fmt: skip
            body = await response.read()
            cycle.ack_perf, cycle.ack_ns = time.perf_counter_ns(), time.time_ns()
            return _answer(response.status, body, "")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        cycle.ack_perf, cycle.ack_ns = time.perf_counter_ns(), time.time_ns()
        return Answer.failed(exc)


class Poller:
    """One probe's session against its replicas, cycle after cycle."""

    def __init__(
        self, session: aiohttp.ClientSession, targets: list[str], names: list[str],
        poll_s: float, cap_s: float,
    ) -> None:  # fmt: skip
        self.session, self.targets = session, targets
        self.poll_s, self.cap_s = poll_s, cap_s
        self.health = Health(names)

    async def read(self, cycle: Cycle, index: int) -> Answer:
        """A read of the cycle's product from replica `index`, its failure counted."""
        answer = await read_product(self.session, f"{self.targets[index]}/products/{cycle.key}")
        self.health.saw(index, answer, cycle.number)
        if answer.error:
            cycle.watches[index].errors += 1
        return answer

    async def warm(self, cycle: Cycle, index: int, deadline: float) -> int | None:
        """Read until the replica answers from a cache tier (or does not say), so the write
        has something to undo; the version it served, None when it did not answer.

        Paced: with Redis down (a fault) no read is ever a hit, and an unpaced loop sent
        each replica ~500 origin reads a second for its whole timeout, which the timeline
        then showed as the strategy's origin load."""
        version = None
        while True:
            answer = await self.read(cycle, index)
            if answer.version is None:
                return None
            version = answer.version
            if answer.cache != "miss" or time.monotonic() >= deadline:
                return version
            await asyncio.sleep(WARM_PAUSE_S)

    async def poll(self, cycle: Cycle, index: int, version: int) -> bool:
        """One poll; whether it failed."""
        watch = cycle.watches[index]
        sent = time.perf_counter_ns()
        watch.sends.append(sent)
        answer = await self.read(cycle, index)
        if answer.version is None:
            return True
        watch.polls += 1
        if answer.version >= version:
            watch.first_fresh_answer = time.perf_counter_ns()
        else:
            watch.last_stale_send = sent
        return False

    async def watch(self, cycle: Cycle, index: int, version: int, deadline: int) -> None:
        """Poll one replica until it serves `version` or the deadline (perf_counter ns)
        passes: back to back for the first DENSE_S after the write, where the strategies
        that invalidate turn fresh and a poll interval would be most of the bracket, then
        every `poll_s`, so a replica stale until its TTL is not polled flat out for 30 s.
        A failed poll ends the watch: the row is censored whatever comes after it."""
        watch = cycle.watches[index]
        dense_until = time.perf_counter() + DENSE_S
        next_send = time.perf_counter()
        while watch.first_fresh_answer is None and time.perf_counter_ns() < deadline:
            if await self.poll(cycle, index, version):
                return
            now = time.perf_counter()
            next_send = now if now < dense_until else max(next_send + self.poll_s, now)
            await asyncio.sleep(max(0.0, next_send - now))

    async def run_cycle(self, cycle: Cycle) -> bool:
        """Warm, then write and poll every replica that answered from the moment the write
        is sent: a replica that turns fresh before the ack reaches the probe is seen doing
        so, and the bracket around that moment is not cut off at the ack. False when no
        replica answered the warm-up: no write was sent, there is nothing to record.

        The new version is known before the ack: the probe alone writes its products, and
        a write moves the version by one (verify checked it); the ack must agree, or the
        cycle failed (an earlier write that timed out may have been made after all)."""
        cycle.watches = [ReplicaWatch(url) for url in self.targets]
        warm_until = time.monotonic() + WARM_TIMEOUT_S
        warmed = await asyncio.gather(
            *(self.warm(cycle, i, warm_until) for i in range(len(self.targets)))
        )
        answered = [i for i, version in enumerate(warmed) if version is not None]
        if not answered:
            return False
        for i, version in enumerate(warmed):
            cycle.watches[i].skipped = version is None
        # round robin over the replicas that answered
        cycle.writer = min(answered, key=lambda i: (i - cycle.writer) % len(self.targets))
        version = max(v for v in warmed if v is not None) + 1
        cycle.sent_perf = time.perf_counter_ns()
        deadline = cycle.sent_perf + int(self.cap_s * 1e9)
        polls = [asyncio.ensure_future(self.watch(cycle, i, version, deadline)) for i in answered]
        try:
            url = f"{self.targets[cycle.writer]}/products/{cycle.key}"
            made = await write(self.session, url, cycle)  # said by `health.wrote`
            if made.version is None:
                cycle.watches[cycle.writer].errors += 1
                cycle.failed = f"write: {made.error}"
            elif made.version != version:
                cycle.failed = (
                    f"the write made version {made.version}, not {version}: another write of"
                    f" product {cycle.key} (an earlier one that timed out?)"
                )
            self.health.wrote(cycle)
            if cycle.failed:
                for poll in polls:
                    poll.cancel()
            await asyncio.gather(*polls, return_exceptions=bool(cycle.failed))
        except BaseException:  # cancelled (the probe was asked to stop): no poll outlives it
            for poll in polls:
                poll.cancel()
            await asyncio.gather(*polls, return_exceptions=True)
            raise
        cycle.censored = bool(cycle.failed) or any(
            w.first_fresh_answer is None or w.errors for w in cycle.watches
        )
        return True


async def unless(stop: asyncio.Event, work: Awaitable[T]) -> tuple[bool, T | None]:
    """`work`'s result, or (False, None) once `stop` is set first (`work` cancelled)."""
    task, stopped = asyncio.ensure_future(work), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False, None


async def probe(args: argparse.Namespace, names: list[str], stop: asyncio.Event,
                tally: Tally) -> None:  # fmt: skip
    """Cycles until `args.duration` is up or `stop` is set; a stop loses only the cycle in
    flight. Raises ProbeStopped when no replica answered within `args.give_up_s`."""
    targets = args.targets.split(",")
    keys = [int(k) for k in args.keys.split(",")]
    started = time.monotonic()
    deadline = started + args.duration
    connector = aiohttp.TCPConnector(limit_per_host=3, force_close=False)  # a poll, the write
    number = 0
    with args.out.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        out.flush()
        async with aiohttp.ClientSession(connector=connector) as session:
            poller = Poller(session, targets, names, args.poll_ms / 1000, args.ttl + CAP_MARGIN_S)
            while not stop.is_set() and time.monotonic() < deadline:
                cycle = Cycle(number, keys[number % len(keys)], number % len(targets))
                number += 1
                done, wrote = await unless(stop, poller.run_cycle(cycle))
                if not done:
                    break
                tally.errors += sum(w.errors for w in cycle.watches)
                if wrote:
                    writer.writerows(cycle_rows(args.strategy, names, cycle))
                    out.flush()  # a stop loses at most the cycle in flight
                    tally.cycles += 1
                    tally.failed += bool(cycle.failed)
                else:
                    tally.unwritten += 1
                if not poller.health.answered and time.monotonic() - started >= args.give_up_s:
                    raise ProbeStopped(
                        f"no replica answered a read of a probe product in {args.give_up_s:g} s"
                        f" (last: {poller.health.last_error or 'nothing'})"
                    )
                pause = FAILED_PAUSE_S if cycle.failed or not wrote else CYCLE_PAUSE_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
