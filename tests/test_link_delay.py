"""`--link-delay`: the spec as data, the proxy holding each answer on a real link (to a real
redis-server, to the PostgreSQL on 127.0.0.1:5432), the local runtime's wiring (every
replica through a proxy, a partition still cutting one of them), and the issue's known
answer on two real runs.

The proxy's figures here are known answers of behaviour, not of speed: a round trip
through a link held MS gains at least MS, so only that lower bound is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pandas as pd
import pytest
import redis
import redis.asyncio as aioredis

from bench.faults import proxy
from bench.faults.link_delay import LinkDelay, LinkDelaySpecError, parse_link_delay
from bench.faults.proxy import CHUNK, HELD_CHUNKS, Link
from bench.faults.spec import parse_fault
from bench.report.setup import link_line
from bench.report.sweep import describe_sweep
from bench.run_config import ConfigError, RunConfig
from bench.runtime.local.faults import LocalFaults
from bench.runtime.local.links import origin_link, redis_links, upstream_of, via
from bench.runtime.local.redis_server import start_redis
from bench.runtime.processes import Supervisor
from tests.conftest import PG_URL, RedisProcess, postgres_reachable

ROUNDS = 20


# --- the spec -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "delays"),
    [
        ("redis=3", (LinkDelay("redis", 3.0),)),
        ("redis=3~1.5", (LinkDelay("redis", 3.0, 1.5),)),
        ("redis=0", (LinkDelay("redis", 0.0),)),  # the proxy's hop alone: a baseline
        ("redis=400~100", (LinkDelay("redis", 400.0, 100.0),)),
        ("origin=2,redis=0.5~0.25", (LinkDelay("redis", 0.5, 0.25), LinkDelay("origin", 2.0))),
        (" redis=1 , origin=1~1 ", (LinkDelay("redis", 1.0), LinkDelay("origin", 1.0, 1.0))),
    ],
)
def test_a_spec_parses_to_one_delay_per_link(spec: str, delays: tuple[LinkDelay, ...]) -> None:
    assert parse_link_delay(spec) == delays


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "expected LINK=MS[~JITTER]"),
        ("redis", "expected LINK=MS[~JITTER]"),
        ("redis=", "expected LINK=MS[~JITTER]"),
        ("=3", "expected LINK=MS[~JITTER]"),
        ("redis=3,", "expected LINK=MS[~JITTER]"),
        ("mysql=3", "unknown link 'mysql'; choose from redis, origin"),
        ("Redis=3", "unknown link 'Redis'"),
        ("redis=-1", "redis: MS must be a finite number of milliseconds >= 0, got -1"),
        ("redis=nan", "redis: MS must be a finite number"),
        ("redis=inf", "redis: MS must be a finite number"),
        ("redis=3ms", "redis: MS '3ms' is not a number"),
        ("redis=3~-1", "redis: JITTER must be a finite number of milliseconds >= 0, got -1"),
        ("redis=3~nan", "redis: JITTER must be a finite number"),
        ("redis=3~", "redis: JITTER '' is not a number"),
        ("redis=~2", "redis: a jitter needs a delay"),
        ("origin=0~2", "origin: a jitter needs a delay"),
        ("redis=1,redis=2", "redis is given twice"),
        ("origin=400~101", "origin: MS + JITTER must be at most 500 ms"),
    ],
)
def test_a_bad_spec_names_the_part_that_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(LinkDelaySpecError, match=f"^--link-delay .*{re.escape(says)}") as caught:
        parse_link_delay(spec)
    assert "\n" not in str(caught.value)


def test_the_config_records_the_spec_and_refuses_what_has_no_link() -> None:
    config = RunConfig(strategies=("delete",), link_delay=parse_link_delay("redis=3~1"))
    assert config.as_json()["link_delay"] == "redis=3~1"
    assert config.link("redis") == LinkDelay("redis", 3.0, 1.0) and config.link("origin") is None
    assert RunConfig(strategies=("delete",)).as_json()["link_delay"] is None
    both = RunConfig(strategies=("delete",), origin="postgres",
                     link_delay=parse_link_delay("redis=1,origin=1"))  # fmt: skip
    assert both.as_json()["link_delay"] == "redis=1,origin=1"
    with pytest.raises(ConfigError, match=r"^--link-delay origin=1: the sqlite origin has no"
                                          r" link; use --origin postgres$"):  # fmt: skip
        RunConfig(strategies=("delete",), link_delay=parse_link_delay("origin=1"))
    with pytest.raises(ConfigError, match="only the local runtime"):
        RunConfig(runtime="compose", link_delay=parse_link_delay("redis=1"))
    with pytest.raises(ConfigError, match="--link-delay redis=nan: redis: MS must be a finite"):
        RunConfig(strategies=("delete",), link_delay=(LinkDelay("redis", float("nan")),))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run", "--link-delay", "origin=2"],
         "--link-delay origin=2: the sqlite origin has no link; use --origin postgres"),
        (["run", "--link-delay", "redis=-3"], "argument --link-delay: redis: MS must be"),
        (["run", "--link-delay", "disk=3"], "argument --link-delay: unknown link 'disk'"),
        (["run", "--link-delay", "redis=~1"], "argument --link-delay: redis: a jitter needs"),
        (["sweep", "--link-delay", "origin=2"], "the sqlite origin has no link"),
        (["run", "--runtime", "compose", "--dry-run", "--link-delay", "redis=1"],
         "only the local runtime"),
    ],
)  # fmt: skip
def test_a_refused_link_delay_exits_2_in_one_line(
    argv: list[str], says: str, tmp_path: Path
) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", *argv, "--results", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_report_says_which_links_were_held() -> None:
    line = link_line({"link_delay": "redis=3~1,origin=2"})
    assert "to Redis 3 ms (+ up to 1 ms jitter), to the origin 2 ms" in line
    assert link_line({"link_delay": None}) == ""
    base = RunConfig(strategies=("delete",), link_delay=parse_link_delay("redis=2"))
    sweep = {"config": {**base.as_json(), "ttls_s": [1.0], "replicas": [2], "repeats": 1},
             "host": {"cpus": 2, "memory_bytes": 2**31, "platform": "Linux", "python": "3.11"},
             "git": {"commit": "abc", "dirty": False}, "cells": {"c1": {"status": "complete"}},
             "matrix": [{}], "started_at": "then", "ended_at": "now"}  # fmt: skip
    assert any(line.startswith("Links delayed (--link-delay redis=2)")
               for line in describe_sweep(sweep))  # fmt: skip


# --- the proxy, on real links ----------------------------------------------------------


@asynccontextmanager
async def held_link(upstream: tuple[str, int], ms: float, jitter_ms: float = 0.0
                    ) -> AsyncIterator[tuple[int, Link]]:  # fmt: skip
    """A proxy in the test's loop holding each answer `ms` (+ jitter): its port and link."""
    link = Link(upstream, ms, jitter_ms)
    server = await asyncio.start_server(link.serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], link
    finally:
        link.command("cut")
        server.close()
        await server.wait_closed()


async def redis_round_trips(port: int) -> list[float]:
    """ROUNDS PING round trips (ms) on one connection, after a first one to open it."""
    client = aioredis.Redis(port=port, socket_timeout=5)
    try:
        await client.ping()
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            assert await client.ping()
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        await client.aclose()


async def test_a_round_trip_to_redis_through_a_held_link_gains_at_least_the_delay(
    redis_proc: RedisProcess,
) -> None:
    upstream = ("127.0.0.1", redis_proc.port)
    async with held_link(upstream, 5.0, 3.0) as (port, link):
        held = await redis_round_trips(port)
        assert min(held) >= 5.0, held
        assert link.command("delay 2 0.5") == "ok"  # the control command takes a jitter too
        assert min(await redis_round_trips(port)) >= 2.0
        assert link.command("delay 0") == "ok"
        assert link.hold_s() == 0.0
        assert link.command("delay -1").startswith("error: delay MS [JITTER]")
        assert link.command("delay 1 nan").startswith("error: delay MS [JITTER]")
        assert link.command("delay 1 2 3").startswith("error: unknown command")


async def test_held_answers_arrive_whole_and_in_order_under_jitter(
    redis_proc: RedisProcess,
) -> None:
    async with held_link(("127.0.0.1", redis_proc.port), 1.0, 4.0) as (port, _):
        client = aioredis.Redis(port=port, socket_timeout=5)
        try:
            await client.delete("link-delay:order")
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(200):
                    pipe.incr("link-delay:order")
                assert await pipe.execute() == list(range(1, 201))
            value = "x" * 300_000  # answers of several chunks
            await client.set("link-delay:big", value)
            assert (await client.get("link-delay:big")).decode() == value
        finally:
            await client.aclose()


async def test_a_reader_that_stops_reading_slows_the_sender_not_the_proxys_memory() -> None:
    """A held link keeps at most HELD_CHUNKS answer chunks a connection: past them it stops
    reading upstream and TCP pushes back on the sender, as a real slow link would."""
    written = 0
    blocked = asyncio.Event()

    async def flood(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        chunk = b"x" * CHUNK
        with contextlib.suppress(OSError):
            while written < 64 * HELD_CHUNKS * CHUNK:
                writer.write(chunk)
                try:
                    await asyncio.wait_for(writer.drain(), 1.0)
                except TimeoutError:
                    blocked.set()  # a second without room: the sender is held back
                    return
                written += len(chunk)

    upstream = await asyncio.start_server(flood, "127.0.0.1", 0)
    try:
        async with held_link(upstream.sockets[0].getsockname()[:2], 1.0) as (port, _):
            _, client = await asyncio.open_connection("127.0.0.1", port)  # never reads
            await asyncio.wait_for(blocked.wait(), 30)
            client.close()
    finally:
        upstream.close()
    # what the proxy holds, plus what the kernel may buffer on both hops (a send and a
    # receive buffer each, which autotuning grows up to tcp_wmem's and tcp_rmem's maxima:
    # 32 MiB of receive buffer here); an unbounded proxy reads the whole flood
    assert written < HELD_CHUNKS * CHUNK + 2 * kernel_buffers(), written
    assert HELD_CHUNKS * CHUNK + 2 * kernel_buffers() < 64 * HELD_CHUNKS * CHUNK, "discerns"


def kernel_buffers() -> int:
    """The most one TCP hop's two sockets may buffer: tcp_wmem's and tcp_rmem's maxima."""
    most = 0
    for name in ("tcp_wmem", "tcp_rmem"):
        try:
            most += int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
        except (OSError, ValueError, IndexError):
            most += 4 * 1024 * 1024
    return most


@pytest.fixture
def postgres() -> tuple[str, int]:
    if not postgres_reachable():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    return upstream_of(PG_URL)


async def pg_round_trips(url: str) -> list[float]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.fetchval("SELECT 1")  # prepared, so each one after is one round trip
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            assert await conn.fetchval("SELECT 1") == 1
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        await conn.close()


async def test_a_round_trip_to_postgres_through_a_held_link_gains_at_least_the_delay(
    postgres: tuple[str, int],
) -> None:
    async with held_link(postgres, 4.0, 2.0) as (port, _):
        held = await pg_round_trips(via(PG_URL, port))
        assert min(held) >= 4.0, held


def test_a_networked_origin_s_url_is_rewritten_to_its_proxy() -> None:
    url = "postgresql://bench:s%40cret@db.example:6543/shop?sslmode=disable"
    assert upstream_of(url) == ("db.example", 6543)
    assert via(url, 4100) == "postgresql://bench:s%40cret@127.0.0.1:4100/shop?sslmode=disable"
    assert upstream_of("postgresql://127.0.0.1/postgres") == ("127.0.0.1", 5432)
    assert via("postgresql://127.0.0.1/postgres", 7) == "postgresql://127.0.0.1:7/postgres"
    with pytest.raises(ValueError, match="sqlite origin has no link"):
        upstream_of("sqlite:////tmp/origin.db")


# --- the local runtime's wiring, with the proxy as a process ---------------------------


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    with Supervisor(trap_signals=False) as supervisor:
        yield supervisor


def sync_ping_ms(port: int) -> float:
    """The first PING on a new connection through `port`: the connection's first answer."""
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        start = time.perf_counter()
        assert client.ping()
        return (time.perf_counter() - start) * 1000
    finally:
        client.close()


@pytest.mark.slow  # seconds of real processes: make test runs it, test-fast does not
def test_under_a_redis_delay_every_replica_gets_a_held_proxy_and_a_partition_cuts_one(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    server = start_redis(supervisor, tmp_path, log_path=tmp_path / "redis.log")
    config = RunConfig(strategies=("delete",), replicas=2, duration_s=10,
                       faults=(parse_fault("redis-partition@2+2:2"),),
                       link_delay=parse_link_delay("redis=5~1"))  # fmt: skip
    proxies = redis_links(supervisor, config, server.port, tmp_path)
    assert sorted(proxies) == [1, 2]
    for held in proxies.values():  # held from the first byte: a start-up argument
        assert sync_ping_ms(held.port) >= 5.0
    target = LocalFaults(supervisor, server, [], proxies)
    target.cut_link(2)
    with pytest.raises(redis.ConnectionError):
        sync_ping_ms(proxies[2].port)
    assert sync_ping_ms(proxies[1].port) >= 5.0, "the other replica's link is only held"
    target.restore_link(2)
    assert sync_ping_ms(proxies[2].port) >= 5.0
    proxy.send(proxies[1].control, "delay 0")
    # without a delay, only the replica a partition cuts goes through a proxy
    plain = RunConfig(strategies=("delete",), replicas=2, duration_s=10,
                      faults=(parse_fault("redis-partition@2+2:2"),))  # fmt: skip
    assert sorted(redis_links(supervisor, plain, server.port, tmp_path)) == [2]


def test_the_origin_link_proxy_holds_postgres_answers_from_its_url(
    supervisor: Supervisor, postgres: tuple[str, int], tmp_path: Path
) -> None:
    url = origin_link(supervisor, PG_URL, LinkDelay("origin", 4.0, 1.0), tmp_path / "p.log")
    assert url != PG_URL and upstream_of(url)[0] == "127.0.0.1"
    assert min(asyncio.run(pg_round_trips(url))) >= 4.0


# --- the known answer, on two real runs -------------------------------------------------

RUN = [sys.executable, "-m", "bench", "run", "--strategies", "delete", "--scenario",
       "read_mostly", "--replicas", "2", "--duration", "10"]  # fmt: skip


def run_folder(results: Path, *extra: str) -> Path:
    done = subprocess.run([*RUN, "--results", str(results), *extra], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [folder] = list(results.iterdir())
    return folder


@pytest.mark.run
@pytest.mark.replication
def test_a_3_ms_redis_link_raises_delete_s_server_read_p50_by_at_least_2_5_ms(
    tmp_path: Path,
) -> None:
    plain = run_folder(tmp_path / "plain")
    held = run_folder(tmp_path / "held", "--link-delay", "redis=3")
    p50 = {name: pd.read_csv(folder / "summary.csv").set_index("strategy")
           .loc["delete", "read_server_p50_ms"] for name, folder in
           (("plain", plain), ("held", held))}  # fmt: skip
    print(f"read_server_p50_ms: {p50}")
    assert p50["held"] - p50["plain"] >= 2.5, p50
    assert json.loads((held / "run.json").read_text())["config"]["link_delay"] == "redis=3"
    assert json.loads((plain / "run.json").read_text())["config"]["link_delay"] is None
    assert "Links delayed (--link-delay redis=3)" in (held / "report.md").read_text()
    assert sorted(p.name for p in (held / "logs" / "delete").glob("redis-proxy-*.log")) == [
        "redis-proxy-1.log", "redis-proxy-2.log"]  # fmt: skip
