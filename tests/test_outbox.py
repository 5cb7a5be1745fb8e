"""`outbox` delivers an invalidation that Redis missed, once Redis can take it, on real
Redis and both real origins. A replica is cut off Redis by the fault runs' own TCP proxy
(bench.faults.proxy), run in the test's loop: its `cut` drops every connection and
refuses new ones, as a link that went down."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from bench.faults.proxy import Link
from services.origin import SqliteOrigin
from tests.conftest import PG_URL, replica
from tests.waiting import async_wait_until

PRODUCT, CATEGORY = 7, "c1"  # product 7 is in c1 in the test plan
KEYS = [f"product:{PRODUCT}", f"category:{CATEGORY}:products"]


@asynccontextmanager
async def proxied(redis_url: str) -> AsyncIterator[tuple[str, Link]]:
    """A Redis URL through a proxy, and the proxy's link to cut and open."""
    upstream = aioredis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    link = Link((upstream["host"], upstream["port"]))
    server = await asyncio.start_server(link.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0", link
    finally:
        link.command("cut")  # closes what is still forwarded
        server.close()
        await server.wait_closed()


async def outbox_keys(client: httpx.AsyncClient) -> list[list[str]]:
    """The outbox's rows, oldest first, read from the replica's own origin."""
    origin = client.app.state.origin  # type: ignore[attr-defined]
    query = "SELECT keys FROM cache_outbox ORDER BY id"
    if isinstance(origin, SqliteOrigin):
        rows = await origin.reader.execute_fetchall(query)
    else:
        rows = await origin.pool.fetch(query)
    return [json.loads(row["keys"]) for row in rows]


async def cache_stale(client: httpx.AsyncClient) -> int:
    """Read product and list through `client` so Redis holds both; the version cached."""
    version = (await client.get(f"/products/{PRODUCT}")).json()["version"]
    await client.get(f"/categories/{CATEGORY}/products")
    return version


def counter(metrics: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in metrics.splitlines()
                if line.startswith(f"{name} "))  # fmt: skip


async def test_an_invalidation_redis_missed_is_delivered_when_it_is_back(
    redis_url: str, database_url: str
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with (
        proxied(redis_url) as (url, link),
        replica("outbox", url, database_url) as client,
    ):
        old = await cache_stale(client)
        assert await r.exists(*KEYS) == 2

        link.command("cut")
        written = await client.patch(f"/products/{PRODUCT}", json={"price": 6.5})
        assert written.status_code == 200, "the write committed: it answers, Redis or not"
        assert written.json()["version"] == old + 1
        assert await outbox_keys(client) == [KEYS], "the keys wait in the outbox"
        assert json.loads(await r.get(KEYS[0]))["version"] == old  # stale, for now
        health = (await client.get("/healthz")).json()
        assert health["outbox_relay"] == "retrying"
        assert counter((await client.get("/metrics")).text, "cache_errors_total") >= 1

        link.command("open")

        async def delivered() -> bool:
            return await r.exists(*KEYS) == 0 and await outbox_keys(client) == []

        await async_wait_until(delivered, 5, "the relay to deliver once Redis is back")
        fresh = await client.get(f"/products/{PRODUCT}")
        assert fresh.json()["version"] == old + 1
        assert (await client.get("/healthz")).json()["outbox_relay"] == "ok"
    await r.aclose()


async def test_a_row_left_by_one_replica_is_delivered_by_another(
    redis_url: str, database_url: str
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    async with (
        proxied(redis_url) as (url, link),
        replica("outbox", url, database_url, "cut") as cut,
        replica("outbox", redis_url, database_url, "other") as other,
    ):
        old = await cache_stale(other)
        assert await r.exists(*KEYS) == 2

        link.command("cut")  # for good: only `other` can deliver
        written = await cut.patch(f"/products/{PRODUCT}", json={"price": 7.5})
        assert written.status_code == 200 and written.json()["version"] == old + 1

        async def delivered() -> bool:
            return await r.exists(*KEYS) == 0 and await outbox_keys(other) == []

        await async_wait_until(delivered, 5, "the other replica's relay to deliver the row")
        assert counter((await other.get("/metrics")).text, "invalidations_sent_total") == 1
        assert counter((await cut.get("/metrics")).text, "invalidations_sent_total") == 0
        assert (await other.get(f"/products/{PRODUCT}")).json()["version"] == old + 1
    await r.aclose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_relay_listens_again_when_its_connection_is_lost(
    redis_url: str, database_url: str
) -> None:
    async with replica("outbox", redis_url, database_url) as client:
        store = client.app.state.strategy.store  # type: ignore[attr-defined]

        async def listening_on_another_connection(than: int | None = None) -> bool:
            return store.listening and store.listener_pid not in (None, than)

        await async_wait_until(listening_on_another_connection, 5, "the relay to LISTEN")
        first = store.listener_pid
        admin = await asyncpg.connect(PG_URL)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        await async_wait_until(lambda: listening_on_another_connection(first), 10,
                               "the relay to LISTEN again on a new connection")  # fmt: skip
        assert (await client.get("/healthz")).json()["outbox_listening"] is True


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_relays_of_two_replicas_deliver_each_row_once(
    redis_url: str, database_url: str
) -> None:
    """The relays race for every row (each wakes at the other's NOTIFY), and the row
    locks (FOR UPDATE, SKIP LOCKED in a sweep) let exactly one of them deliver it."""
    writes = 40
    async with (
        replica("outbox", redis_url, database_url, "a") as a,
        replica("outbox", redis_url, database_url, "b") as b,
    ):
        answers = await asyncio.gather(*(
            (a, b)[i % 2].patch(f"/products/{i % 10 + 1}", json={"price": 1.0 + i})
            for i in range(writes)
        ))  # fmt: skip
        assert all(answer.status_code == 200 for answer in answers)

        async def empty() -> bool:
            return await outbox_keys(a) == []

        await async_wait_until(empty, 5, "every row to be delivered")
        sent = [counter((await c.get("/metrics")).text, "invalidations_sent_total") for c in (a, b)]
        assert sum(sent) == writes, sent
