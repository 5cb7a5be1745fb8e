"""Each strategy keeps the promises the guide makes for it, on real Redis and a real origin."""

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from services.strategies import STRATEGIES
from services.strategies.lease import lease_key
from services.strategies.versioned import version_key
from tests.conftest import replica
from tests.waiting import async_wait_until

# as each declares itself in the registry
INVALIDATING = [name for name, spec in STRATEGIES.items() if spec.invalidates_on_write]
LISTS_FRESH = [name for name, spec in STRATEGIES.items() if spec.lists_fresh]
PRODUCT = 7  # category c1 in the test plan (5 categories)
CATEGORY = "c1"


async def version_of(client, product_id: int = PRODUCT) -> int:
    response = await client.get(f"/products/{product_id}")
    assert response.status_code == 200
    return response.json()["version"]


async def patch_price(client, price: float, product_id: int = PRODUCT) -> dict:
    response = await client.patch(f"/products/{product_id}", json={"price": price})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("strategy", INVALIDATING)
async def test_write_visible_on_next_read(strategy: str, redis_url: str, database_url: str) -> None:
    """The guide's own verification: populate, write, the next read is fresh."""
    r = aioredis.Redis.from_url(redis_url)
    async with replica(strategy, redis_url, database_url) as client:
        first = await client.get(f"/products/{PRODUCT}")
        assert first.headers["x-cache"] == "miss"
        again = await client.get(f"/products/{PRODUCT}")
        assert again.headers["x-cache"] in ("redis", "local")
        old_keys = set(await r.keys("*product:7"))
        assert old_keys, "the read should have cached the product in Redis"

        written = await patch_price(client, 12.5)
        assert written["version"] == first.json()["version"] + 1

        if strategy == "versioned":
            # The old key is retired, not deleted: it is no longer the one reads look up.
            current = (await r.get(version_key(CATEGORY))).decode()
            assert all(f":v{current}:" not in key.decode() for key in old_keys)
        else:
            assert await r.exists(*old_keys) == 0

        body = (await client.get(f"/products/{PRODUCT}")).json()
        assert body["price"] == 12.5
        assert body["version"] == written["version"]
    await r.aclose()


async def test_ttl_strategy_leaves_the_cache_alone(redis_url: str, database_url: str) -> None:
    async with replica("ttl", redis_url, database_url) as client:
        before = await version_of(client)
        await patch_price(client, 99.0)
        assert await version_of(client) == before, "ttl serves the cached row until it expires"


@pytest.mark.parametrize("strategy", INVALIDATING)
async def test_other_replica_sees_the_write(
    strategy: str, redis_url: str, database_url: str
) -> None:
    async with (
        replica(strategy, redis_url, database_url, "a") as a,
        replica(strategy, redis_url, database_url, "b") as b,
    ):
        if STRATEGIES[strategy].subscriber:
            for client in (a, b):
                subscribed = client.app.state.strategy.subscribed  # type: ignore[attr-defined]
                await async_wait_until(
                    lambda s=subscribed: _true(s.is_set()), 5, "the subscriber to be up"
                )
        before = await version_of(b)
        await version_of(b)  # now cached on b (Redis, and b's local tier if it has one)
        written = await patch_price(a, 1.25)
        assert written["version"] == before + 1

        async def b_is_fresh() -> bool:
            return await version_of(b) == written["version"]

        if STRATEGIES[strategy].local_tier:  # b hears of it by a message
            await async_wait_until(b_is_fresh, 2.0, "the invalidation to reach replica b")
        else:
            assert await b_is_fresh(), "the write invalidated before it answered"


async def test_ttl_other_replica_stale_until_ttl(redis_url: str, database_url: str) -> None:
    ttl_s = 1.0
    async with (
        replica("ttl", redis_url, database_url, "a", cache_ttl=ttl_s) as a,
        replica("ttl", redis_url, database_url, "b", cache_ttl=ttl_s) as b,
    ):
        before = await version_of(b)
        cached_at = time.monotonic()
        await patch_price(a, 2.5)
        seen = await version_of(b)
        if time.monotonic() - cached_at < ttl_s:  # only meaningful while the entry lives
            assert seen == before

        async def b_is_fresh() -> bool:
            return await version_of(b) == before + 1

        await async_wait_until(b_is_fresh, ttl_s + 2.0, "the TTL to expire the old row")
        assert time.monotonic() - cached_at >= ttl_s * 0.9, "fresh before the TTL ran out"


@pytest.mark.parametrize("strategy", LISTS_FRESH)
async def test_category_list_shows_the_write(
    strategy: str, redis_url: str, database_url: str
) -> None:
    """The partial-key gotcha, closed: the list that embeds the product is invalidated too."""
    async with (
        replica(strategy, redis_url, database_url, "a") as a,
        replica(strategy, redis_url, database_url, "b") as b,
    ):
        for client in (a, b):
            await client.get(f"/categories/{CATEGORY}/products")
        cached = await b.get(f"/categories/{CATEGORY}/products")
        assert cached.headers["x-cache"] in ("redis", "local")
        written = await patch_price(a, 4.75)

        async def listed_fresh(client) -> bool:
            body = (await client.get(f"/categories/{CATEGORY}/products")).json()
            item = next(i for i in body["items"] if i["id"] == PRODUCT)
            return item["version"] == written["version"]

        assert await listed_fresh(a)
        await async_wait_until(lambda: listed_fresh(b), 2.0, "b's list to show the write")


async def _true(value: bool) -> bool:
    return value


async def test_partial_leaves_the_list_stale_until_its_ttl(
    redis_url: str, database_url: str
) -> None:
    """The gotcha `partial` exists to show: the product is fresh, its list is not."""
    async with replica("partial", redis_url, database_url, cache_ttl=30) as client:
        before = (await client.get(f"/categories/{CATEGORY}/products")).json()
        old = next(i for i in before["items"] if i["id"] == PRODUCT)["version"]
        written = await patch_price(client, 3.25)
        assert await version_of(client) == written["version"]
        after = await client.get(f"/categories/{CATEGORY}/products")
        assert after.headers["x-cache"] == "redis"
        assert next(i for i in after.json()["items"] if i["id"] == PRODUCT)["version"] == old


async def test_a_lease_refuses_a_fill_from_before_the_write(
    redis_url: str, database_url: str
) -> None:
    """The read/write race, closed: a reader that took the lease and read the old row,
    then filled after the write's delete, finds its token gone and fills nothing."""
    r = aioredis.Redis.from_url(redis_url)
    async with replica("lease", redis_url, database_url) as client:
        strategy = client.app.state.strategy  # type: ignore[attr-defined]
        key, old_row = f"product:{PRODUCT}", (await client.get(f"/products/{PRODUCT}")).content
        await r.delete(key)  # a cold key: the next reader misses and takes the lease
        assert await r.set(lease_key(key), "slow-reader", nx=True, px=5000)
        await patch_price(client, 8.5)  # deletes the key and voids the lease
        assert await r.get(lease_key(key)) is None
        refused = await strategy._fill(keys=[key, lease_key(key)], args=["slow-reader", old_row,
                                                                         30_000])  # fmt: skip
        assert refused == 0 and await r.get(key) is None
        fresh = await client.get(f"/products/{PRODUCT}")  # misses, leases, fills the new row
        assert fresh.headers["x-cache"] == "miss" and await r.get(key) == fresh.content
        assert await r.get(lease_key(key)) is None  # the fill gave the lease back


async def test_a_reader_that_finds_the_lease_taken_waits_for_the_fill(
    redis_url: str, database_url: str
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with replica("lease", redis_url, database_url) as client:
        key = f"product:{PRODUCT}"
        await client.get(f"/products/{PRODUCT}")
        cached = await r.get(key)
        await r.delete(key)
        await r.set(lease_key(key), "another-reader", px=5000)

        async def fill_soon() -> None:
            await asyncio.sleep(0.01)
            await r.set(key, cached, px=30_000)

        filler = asyncio.create_task(fill_soon())
        answer = await client.get(f"/products/{PRODUCT}")
        await filler
        assert answer.headers["x-cache"] == "redis"  # waited and read it: no origin read
