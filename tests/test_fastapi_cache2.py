"""fastapi-cache2 0.2.2 as measured: what its `clear` deletes, what a Redis outage does
to it, its herd at expiry, and its staleness beside ours (the behaviour card's figures).

In-process (fast, unmarked): `FastAPICache.clear(key=...)` under the README's prefix
deletes every key of the prefix, not the key (fastapi_cache/__init__.py:102 makes the
prefix a namespace; backends/redis.py:25-27 then runs `KEYS prefix:*` and DELs them).
A library upgrade that fixes it (upstream PR #529) fails
`test_clear_of_one_key_empties_the_whole_cache_under_the_readme_prefix` loudly. A Redis
kill is in-process and fast too; a pause (two 5 s socket timeouts) and the real runs
(2 replicas, 15 s each) are marked `libraries`.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import redis

from bench.runtime.seed import seed_async
from tests.conftest import PLAN, RedisProcess, answered_by_redis_again, raw_client, replica

RUN = [sys.executable, "-m", "bench", "run", "--replicas", "2", "--duration", "15"]


async def test_clear_of_one_key_empties_the_whole_cache_under_the_readme_prefix(
    redis_url: str, database_url: str
) -> None:
    async with replica("fastapi-cache2-clear", redis_url, database_url) as client:
        for path in ("/products/4", "/products/5", "/categories/c1/products"):
            await client.get(path)
            assert (await client.get(path)).headers["x-cache"] == "redis"
        keys = sorted(k.decode() for k in redis.Redis.from_url(redis_url).keys("fastapi-cache:*"))
        assert keys == [  # the readable keys, under the README's prefix
            "fastapi-cache:category:c1:products",
            "fastapi-cache:product:4",
            "fastapi-cache:product:5",
        ]
        assert (await client.patch("/products/4", json={"price": 9.5})).status_code == 200
        # product 5 and category c1 were not written, and are gone all the same
        assert (await client.get("/products/5")).headers["x-cache"] == "miss"
        assert (await client.get("/categories/c1/products")).headers["x-cache"] == "miss"
        fresh = await client.get("/products/4")
        assert fresh.headers["x-cache"] == "miss" and fresh.json()["price"] == 9.5


async def test_clear_deletes_just_the_key_with_an_empty_prefix(
    redis_url: str, database_url: str
) -> None:
    """`--fastapi-cache2-clear-empty-prefix`: prefix "", where clear(key=...) is a DEL."""
    async with replica(
        "fastapi-cache2-clear", redis_url, database_url, options={"empty-prefix": True}
    ) as client:
        for path in ("/products/4", "/products/5"):
            await client.get(path)
        assert redis.Redis.from_url(redis_url).exists("product:4", "product:5") == 2
        product = (await client.get("/products/4")).json()
        list_path = f"/categories/{product['category']}/products"
        await client.get(list_path)
        assert (await client.patch("/products/4", json={"price": 9.5})).status_code == 200
        assert (await client.get("/products/5")).headers["x-cache"] == "redis"
        assert (await client.get(list_path)).headers["x-cache"] == "miss"
        assert (await client.get("/products/4")).json()["price"] == 9.5


async def test_the_plain_decorator_does_not_invalidate(redis_url: str, database_url: str) -> None:
    async with replica("fastapi-cache2", redis_url, database_url) as client:
        old = await client.get("/products/4")
        assert old.headers["x-cache"] == "miss"
        written = await client.patch("/products/4", json={"price": 9.5})
        cached = await client.get("/products/4")
        assert cached.headers["x-cache"] == "redis"
        assert cached.json()["version"] == old.json()["version"] < written.json()["version"]


# --- Redis away, with the library's defaults (the README's from_url, redis-py's defaults) ---

PRICE = {"price": 3.0}


@pytest.mark.parametrize("strategy", ["fastapi-cache2", "fastapi-cache2-clear"])
async def test_redis_killed(strategy: str, database_url: str, tmp_path: Path) -> None:
    """A refused connection fails fast: reads fall back to the origin (the decorator logs a
    warning with a traceback for each failed get and set, decorator.py:180 and :193); a
    write commits, and under -clear its `clear` raises out of the route (it catches
    nothing, fastapi_cache/__init__.py:103): a 500 for a committed write."""
    server = RedisProcess(tmp_path)
    try:
        async with replica(strategy, server.url, database_url) as client:
            await client.get("/products/4")
            assert (await client.get("/products/4")).headers["x-cache"] == "redis"
            server.stop()
            started = time.monotonic()
            for _ in range(3):
                read = await client.get("/products/4")
                assert read.status_code == 200 and read.headers["x-cache"] == "miss"
            assert time.monotonic() - started < 2, "a refused connection fails fast"
            before = (await client.get("/products/4")).json()["version"]
            if strategy == "fastapi-cache2":
                assert (await client.patch("/products/4", json=PRICE)).status_code == 200
            else:
                async with raw_client(client) as raw:
                    assert (await raw.patch("/products/4", json=PRICE)).status_code == 500
            after = (await client.get("/products/4")).json()["version"]
            assert after == before + 1, "the write committed either way"
    finally:
        server.stop()


@pytest.mark.libraries
async def test_redis_paused_costs_two_socket_timeouts_and_loses_the_write_s_clear(
    tmp_path: Path,
) -> None:
    """SIGSTOP closes nothing. redis-py 8.2's defaults (redis/_defaults.py:7, a 5 s socket
    timeout; the README's `from_url` sets none) end each Redis call after 5 s, and the
    decorator carries on past a failed get and a failed set (decorator.py:177-196): a read
    answers from the origin after 10 s. A write commits, its `clear` times out and raises
    (a 500 after 5 s), and after the pause the old row is still cached, until the TTL."""
    database_url = f"sqlite:///{tmp_path / 'origin.db'}"
    await seed_async(database_url, PLAN)
    server = RedisProcess(tmp_path)
    try:
        async with replica("fastapi-cache2-clear", server.url, database_url) as client:
            old = (await client.get("/products/4")).json()
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                read = await asyncio.wait_for(client.get("/products/4"), 30)
                took = time.monotonic() - started
                assert read.status_code == 200 and read.headers["x-cache"] == "miss"
                assert 9 < took < 15, f"a read took {took:.1f} s with Redis paused"
                started = time.monotonic()
                async with raw_client(client) as raw:
                    written = await asyncio.wait_for(raw.patch("/products/4", json=PRICE), 30)
                assert written.status_code == 500 and 4 < time.monotonic() - started < 8
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            after = await answered_by_redis_again(client)
            assert after.json()["version"] == old["version"], "the write's clear was lost"
    finally:
        server.stop()


# --- real runs: 2 replicas, 15 s each --------------------------------------------------


def bench_run(results: Path, scenario: str, strategies: str) -> pd.DataFrame:
    done = subprocess.run(
        [*RUN, "--scenario", scenario, "--strategies", strategies, "--results", str(results)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [folder] = results.iterdir()
    summary = pd.read_csv(folder / "summary.csv").set_index("strategy")
    assert (summary["errors"] == 0).all()
    return summary


@pytest.mark.libraries
def test_without_invalidation_it_is_as_stale_as_ttl(tmp_path: Path) -> None:
    """update_heavy at the same TTL: measured 64.5% against ttl's 64.6% (0.1 points)."""
    summary = bench_run(tmp_path, "update_heavy", "fastapi-cache2,ttl")
    ours, ttl = summary.loc["fastapi-cache2"], summary.loc["ttl"]
    assert ours["ttl_s"] == ttl["ttl_s"]
    assert ttl["stale_read_ratio"] > 0.2
    assert abs(ours["stale_read_ratio"] - ttl["stale_read_ratio"]) <= 0.10


@pytest.mark.libraries
def test_clear_is_as_fresh_as_delete_and_empties_the_cache(tmp_path: Path) -> None:
    """read_mostly: stale reads at most 0.5 points above delete's (measured 0 and 0); its
    every write empties the whole cache, so its hit ratio falls far below delete's
    (measured 15% against 79%)."""
    summary = bench_run(tmp_path, "read_mostly", "fastapi-cache2-clear,delete")
    clear, delete = summary.loc["fastapi-cache2-clear"], summary.loc["delete"]
    assert clear["stale_read_ratio"] <= delete["stale_read_ratio"] + 0.005
    assert clear["hit_ratio"] < delete["hit_ratio"] / 2


@pytest.mark.libraries
def test_it_herds_at_expiry_as_delete_does(tmp_path: Path) -> None:
    """stampede (--ttl 2, 50 ms origin): no lock while a value is computed, so every reader
    that misses reads the origin. Measured herd p50/p99/max 4.5/8/8, delete's 5/8/8."""
    summary = bench_run(tmp_path, "stampede", "fastapi-cache2,delete")
    ours, delete = summary.loc["fastapi-cache2"], summary.loc["delete"]
    assert (summary["ttl_s"] == 2.0).all()
    assert ours["herd_size_p50"] > 1 and delete["herd_size_p50"] > 1
    assert ours["herd_size_max"] >= 3
    assert ours["herd_size_p99"] >= delete["herd_size_p99"] / 2
    assert ours["herd_size_max"] >= delete["herd_size_max"] / 2
