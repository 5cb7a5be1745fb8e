"""Redis going away costs hit ratio, never answers: reads and writes still succeed. The
origin going away is a 503, never a 500."""

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.faults.proxy import Link
from services.strategies import STRATEGIES
from tests.conftest import RedisProcess, replica
from tests.waiting import async_wait_until

LOCAL_TIER = [name for name, spec in STRATEGIES.items() if spec.local_tier and not spec.library]
# A library strategy's outage behaviour is the library's: measured on its card, not held here.
OURS = [name for name, spec in STRATEGIES.items() if not spec.library]


def subscribed(strategy: Any, up: bool = True) -> Callable[[], Awaitable[bool]]:
    """A condition for async_wait_until: the strategy's invalidation feed is up (or down)."""

    async def check() -> bool:
        return strategy.subscribed.is_set() is up

    return check


def served_locally(client: Any, path: str = "/products/4") -> Callable[[], Awaitable[bool]]:
    """A condition: a read of `path` is answered from the local tier. Not always the
    second read: under `tracking` a fill's own SET invalidates the copy it just kept."""

    async def check() -> bool:
        return (await client.get(path)).headers["x-cache"] == "local"

    return check


@pytest.mark.parametrize("strategy", OURS)
async def test_redis_killed_mid_test(
    strategy: str, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisProcess(tmp_path)
    try:
        async with replica(strategy, server.url, database_url) as client:
            assert (await client.get("/products/4")).status_code == 200
            cached = await client.get("/products/4")
            assert cached.headers["x-cache"] in ("redis", "local")

            server.stop()
            strategy_obj = client.app.state.strategy  # type: ignore[attr-defined]
            if STRATEGIES[strategy].subscriber:
                # Until the subscriber notices, answering from memory is still right.
                down = subscribed(strategy_obj, up=False)
                await async_wait_until(down, 5, "the subscriber to notice the outage")
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                for _ in range(5):
                    response = await client.get("/products/4")
                    assert response.status_code == 200
                    assert response.headers["x-cache"] == "miss"
                written = await client.patch("/products/4", json={"price": 8.0})
                assert written.status_code == 200
                fresh = await client.get("/products/4")
                assert fresh.json()["version"] == written.json()["version"]
                listed = await client.get("/categories/c3/products")
                assert listed.status_code == 200

            outage_lines = [r for r in caplog.records if "redis unavailable" in r.getMessage()]
            assert len(outage_lines) == 1, "an outage is logged once, not once per request"
            metrics = (await client.get("/metrics")).text
            errors = next(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("cache_errors_total")
            )
            assert errors >= 5
            health = (await client.get("/healthz")).json()
            assert health["redis"] == "unreachable"
    finally:
        server.stop()


@pytest.mark.parametrize("name", LOCAL_TIER)
async def test_local_tier_emptied_after_reconnect(
    name: str, database_url: str, tmp_path: Path
) -> None:
    """Messages sent while the subscriber was away are lost, so the local tier must go."""
    server = RedisProcess(tmp_path)
    try:
        async with replica(name, server.url, database_url) as client:
            strategy = client.app.state.strategy  # type: ignore[attr-defined]

            await async_wait_until(subscribed(strategy), 5, "the first subscription")
            await async_wait_until(served_locally(client), 5, "a read from the local tier")

            server.stop()

            await async_wait_until(
                subscribed(strategy, up=False), 5, "the subscriber to notice the outage"
            )
            assert len(strategy.local) == 0
            assert (await client.get("/products/4")).headers["x-cache"] == "miss"

            server = RedisProcess.on_port(server.port, tmp_path)
            await async_wait_until(subscribed(strategy), 10, "the subscriber to come back")
            assert (await client.get("/products/4")).headers["x-cache"] == "miss"
            await async_wait_until(served_locally(client), 5, "the local tier to fill again")
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("name", LOCAL_TIER)
async def test_local_tier_goes_off_when_redis_hangs(
    name: str, database_url: str, tmp_path: Path
) -> None:
    """A hung Redis (SIGSTOP) closes no connection: only the heartbeat can tell that
    invalidations stopped arriving, and then the local tier must go off and be emptied."""
    server = RedisProcess(tmp_path)
    try:
        async with replica(name, server.url, database_url, subscriber_heartbeat_s=0.1) as client:
            strategy = client.app.state.strategy  # type: ignore[attr-defined]

            await async_wait_until(subscribed(strategy), 5, "the first subscription")
            await async_wait_until(served_locally(client), 5, "a read from the local tier")
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                await async_wait_until(
                    subscribed(strategy, up=False), 5, "the heartbeat to notice the hung Redis"
                )
                assert len(strategy.local) == 0
                assert (await client.get("/products/4")).headers["x-cache"] == "miss"
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            await async_wait_until(subscribed(strategy), 10, "the subscriber to come back")
            # the local tier starts empty; Redis kept its keys through the pause
            assert (await client.get("/products/4")).headers["x-cache"] == "redis"
            await async_wait_until(served_locally(client), 5, "the local tier to fill again")
    finally:
        server.stop()


async def test_the_origin_slow_control_exists_only_when_asked_for(
    redis_url: str, database_url: str
) -> None:
    async with replica("delete", redis_url, database_url) as client:
        answer = await client.put("/_faults/origin-delay", json={"ms": 50})
        assert answer.status_code == 404  # a replica not being faulted has no such route
    async with replica("delete", redis_url, database_url, fault_control=True) as client:
        assert (await client.put("/_faults/origin-delay", json={"ms": "50"})).status_code == 422
        answer = await client.put("/_faults/origin-delay", json={"ms": 50})
        assert answer.status_code == 200 and answer.json() == {"extra_ms": 50.0}
        origin = client.app.state.origin  # type: ignore[attr-defined]
        assert origin._delay_s == 0.05
        await client.put("/_faults/origin-delay", json={"ms": 0})
        assert origin._delay_s == 0.0


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_an_origin_that_stops_answering_is_a_503_not_a_500(
    redis_url: str, database_url: str
) -> None:
    """The replica's PostgreSQL connections go through the fault runs' own TCP proxy; the
    cut drops them and refuses new ones, as a young container network once did mid-run.
    A miss then has no origin to read: 503 with the replica's headers, never a 500."""
    upstream = urlsplit(database_url)
    link = Link((upstream.hostname or "127.0.0.1", upstream.port or 5432))
    server = await asyncio.start_server(link.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    through = urlunsplit(upstream._replace(netloc=f"{upstream.username}@127.0.0.1:{port}"))
    try:
        async with replica("delete", redis_url, through) as client:
            assert (await client.get("/products/3")).status_code == 200
            link.command("cut")
            answer = await client.get("/products/4")  # a miss: only the origin has it
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"detail": "origin unavailable"}
            assert answer.headers["x-replica"] == "r1"
            link.command("open")
            assert (await client.get("/products/4")).status_code == 200, "it serves again"
    finally:
        link.command("cut")
        server.close()
        await server.wait_closed()
