"""`xfetch` recomputes a hot key before it expires, on real Redis and a real origin.

The early-refresh draw is random; beta at its extremes makes the verdict certain: with
beta 1e12 a read misses unless -ln(u) < PTTL / (delta * 1e12), odds below one in a
million for a 30 s TTL and any real origin read; with beta 1e-9 it never refreshes.
"""

import json
import urllib.request
from pathlib import Path

import redis.asyncio as aioredis

from bench.run_config import RunConfig
from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed
from services.strategies.xfetch import delta_key, lock_key
from tests.conftest import replica

PRODUCT = 7  # category c1 in the test plan
KEY = f"product:{PRODUCT}"
LIST = "category:c1:products"
EAGER, NEVER = 1e12, 1e-9
NEAR_EXPIRY_MS = 5_000  # what is left of the key's 30 s before the read under test


async def warm(client, r: aioredis.Redis) -> None:
    """Cache the product (a miss fills value and delta), then bring it near its expiry."""
    first = await client.get(f"/products/{PRODUCT}")
    assert first.headers["x-cache"] == "miss"
    assert await r.get(KEY) == first.content
    assert float(await r.get(delta_key(KEY))) > 0, "the miss stored how long it took"
    assert await r.pexpire(KEY, NEAR_EXPIRY_MS)
    assert await r.pexpire(delta_key(KEY), NEAR_EXPIRY_MS)


async def test_a_huge_beta_refreshes_a_warm_key_early(redis_url: str, database_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with replica("xfetch", redis_url, database_url, options={"beta": EAGER}) as client:
        await warm(client, r)
        early = await client.get(f"/products/{PRODUCT}")
        assert early.headers["x-cache"] == "miss", "read the origin before the key expired"
        assert await r.pttl(KEY) > 20_000, "refilled with a fresh TTL (30 s)"
        assert await r.pttl(delta_key(KEY)) > 20_000
        assert await r.get(KEY) == early.content
        registry = client.app.state.strategy.metrics.registry  # type: ignore[attr-defined]
        assert registry.get_sample_value("origin_reads_total") == 2, "the fill and the refresh"
    await r.aclose()


async def test_a_tiny_beta_serves_the_hit(redis_url: str, database_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with replica("xfetch", redis_url, database_url, options={"beta": NEVER}) as client:
        await warm(client, r)
        hit = await client.get(f"/products/{PRODUCT}")
        assert hit.headers["x-cache"] == "redis"
        assert await r.pttl(KEY) <= NEAR_EXPIRY_MS, "not refreshed"
    await r.aclose()


async def test_a_write_drops_the_values_and_their_deltas(redis_url: str, database_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with replica("xfetch", redis_url, database_url) as client:
        await client.get(f"/products/{PRODUCT}")
        await client.get("/categories/c1/products")
        cached = [KEY, delta_key(KEY), LIST, delta_key(LIST)]
        assert await r.exists(*cached) == 4
        written = await client.patch(f"/products/{PRODUCT}", json={"price": 6.5})
        assert written.status_code == 200
        assert await r.exists(*cached) == 0
        fresh = await client.get(f"/products/{PRODUCT}")
        assert fresh.headers["x-cache"] == "miss" and fresh.json()["price"] == 6.5
    await r.aclose()


async def test_with_the_lock_held_elsewhere_a_reader_serves_the_cached_value(
    redis_url: str, database_url: str
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with replica(
        "xfetch", redis_url, database_url, options={"beta": EAGER, "lock": True}
    ) as client:
        await warm(client, r)
        assert await r.set(lock_key(KEY), "another-reader", px=10_000)
        served = await client.get(f"/products/{PRODUCT}")
        assert served.headers["x-cache"] == "redis", "another reader is refreshing it"
        assert await r.pttl(KEY) <= NEAR_EXPIRY_MS
        assert await r.get(lock_key(KEY)) == b"another-reader"

        await r.delete(lock_key(KEY))  # that reader is done: the next draw takes the lock
        early = await client.get(f"/products/{PRODUCT}")
        assert early.headers["x-cache"] == "miss"
        assert await r.pttl(KEY) > 20_000
        assert await r.exists(lock_key(KEY)) == 0, "the fill gave the lock back"
    await r.aclose()


async def test_a_missing_key_goes_to_the_origin_without_a_lock(
    redis_url: str, database_url: str
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with replica("xfetch", redis_url, database_url, options={"lock": True}) as client:
        await r.set(lock_key(KEY), "another-reader", px=10_000)
        cold = await client.get(f"/products/{PRODUCT}")
        assert cold.headers["x-cache"] == "miss"
        assert await r.get(KEY) == cold.content
    await r.aclose()


def test_the_harness_hands_its_beta_and_lock_to_the_replicas(tmp_path: Path) -> None:
    """`bench run --xfetch-beta B --xfetch-lock` reaches a replica through its environment."""
    with Supervisor(trap_signals=False) as supervisor:
        redis = start_redis(supervisor, tmp_path)
        database_url = f"sqlite:///{tmp_path / 'origin.db'}"
        seed(database_url, SeedPlan(products=10, categories=2))
        run = RunConfig(
            strategies=("xfetch",), options={"xfetch.beta": "0.25", "xfetch.lock": True}
        )
        config = ReplicaConfig("xfetch", redis.url, database_url, ttl_s=30,
                               options_env=run.option_env("xfetch"))  # fmt: skip
        [started] = start_replicas(supervisor, config, 1, tmp_path / "logs")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{started.url}/healthz", timeout=5) as response:
            health = json.load(response)
    assert (health["xfetch_beta"], health["xfetch_lock"]) == (0.25, True)
