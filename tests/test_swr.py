"""`swr` serves a value past its TTL at once and refreshes it once, on real Redis and a
real origin. Removing the freshness mark stands in for waiting out the TTL."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.config import SettingsError, load_settings
from services.strategies.lease import lease_key
from services.strategies.swr import fresh_key
from tests.conftest import replica
from tests.waiting import async_wait_until

PRODUCT = 7  # category c1 in the test plan
KEY = f"product:{PRODUCT}"
LIST = "category:c1:products"
TTL_S, WINDOW_S = 30.0, 10.0


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the test's Redis, to look at and set the keys `swr` keeps."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def origin_reads(client) -> float:
    registry = client.app.state.strategy.metrics.registry
    return registry.get_sample_value("origin_reads_total")


async def test_a_fill_is_fresh_for_the_ttl_and_kept_for_the_window(
    r: aioredis.Redis, redis_url: str, database_url: str
) -> None:
    async with replica(
        "swr", redis_url, database_url, cache_ttl=TTL_S, options={"window": WINDOW_S}
    ) as c:
        assert (await c.get(f"/products/{PRODUCT}")).headers["x-cache"] == "miss"
        assert 25_000 < await r.pttl(fresh_key(KEY)) <= TTL_S * 1000
        assert TTL_S * 1000 < await r.pttl(KEY) <= (TTL_S + WINDOW_S) * 1000
        assert (await c.get(f"/products/{PRODUCT}")).headers["x-cache"] == "redis"


async def test_past_the_ttl_readers_get_the_old_value_and_one_refresh_runs(
    r: aioredis.Redis, redis_url: str, database_url: str
) -> None:
    async with replica("swr", redis_url, database_url, origin_delay_ms=100) as c:
        filled = await c.get(f"/products/{PRODUCT}")
        assert await r.delete(fresh_key(KEY)) == 1  # the TTL ran out
        stale = await asyncio.gather(*(c.get(f"/products/{PRODUCT}") for _ in range(8)))
        assert {s.headers["x-cache"] for s in stale} == {"stale"}
        assert {s.content for s in stale} == {filled.content}
        strategy = c.app.state.strategy

        async def refilled() -> bool:
            return bool(await r.exists(fresh_key(KEY))) and not strategy.health()["refreshing"]

        await async_wait_until(refilled, 5, "the background refill")
        assert origin_reads(c) == 2, "the fill, then one refresh for eight stale readers"
        assert await r.exists(lease_key(KEY)) == 0, "the refresh gave its lease back"
        assert (await c.get(f"/products/{PRODUCT}")).headers["x-cache"] == "redis"


async def test_a_stale_reader_leaves_a_leased_key_to_its_holder(
    r: aioredis.Redis, redis_url: str, database_url: str
) -> None:
    async with replica("swr", redis_url, database_url) as c:
        await c.get(f"/products/{PRODUCT}")
        await r.delete(fresh_key(KEY))
        await r.set(lease_key(KEY), "another replica's", px=5_000)
        assert (await c.get(f"/products/{PRODUCT}")).headers["x-cache"] == "stale"
        assert c.app.state.strategy.health()["refreshing"] == 0
        assert origin_reads(c) == 1


async def test_a_write_drops_values_marks_and_leases_and_refuses_an_older_refill(
    r: aioredis.Redis, redis_url: str, database_url: str
) -> None:
    async with replica("swr", redis_url, database_url) as c:
        old = await c.get(f"/products/{PRODUCT}")
        await c.get("/categories/c1/products")
        await r.delete(fresh_key(KEY))
        await r.set(lease_key(KEY), "refreshing", px=5_000)  # a refresh read the old row
        written = await c.patch(f"/products/{PRODUCT}", json={"price": 6.5})
        assert written.status_code == 200
        dropped = [KEY, LIST, fresh_key(KEY), fresh_key(LIST), lease_key(KEY)]
        assert await r.exists(*dropped) == 0
        await c.app.state.strategy.fill(KEY, "refreshing", old.content)  # it lands late
        assert await r.exists(KEY) == 0, "the write took the lease: the old row stays out"
        fresh = await c.get(f"/products/{PRODUCT}")
        assert fresh.headers["x-cache"] == "miss" and fresh.json()["price"] == 6.5


@pytest.mark.parametrize("window", ["0", "-1", "nan"])
def test_a_bad_window_is_refused(window: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWR_WINDOW", window)
    with pytest.raises(SettingsError, match="SWR_WINDOW"):
        load_settings(cache_strategy="swr")
