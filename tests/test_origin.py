"""The origin's version is exact: one per write, whatever the concurrency."""

import asyncio

import pytest

from tests.conftest import replica

WRITERS = 4
WRITES_EACH = 50


@pytest.mark.parametrize("strategy", ["delete", "pubsub"])
async def test_concurrent_writes_from_several_replicas(
    strategy: str, redis_url: str, database_url: str
) -> None:
    async with (
        replica(strategy, redis_url, database_url, "a") as a,
        replica(strategy, redis_url, database_url, "b") as b,
        replica(strategy, redis_url, database_url, "c") as c,
        replica(strategy, redis_url, database_url, "d") as d,
    ):
        start = (await a.get("/products/9")).json()["version"]

        async def writer(client, offset: int) -> list[int]:
            versions = []
            for i in range(WRITES_EACH):
                response = await client.patch("/products/9", json={"price": offset + i})
                assert response.status_code == 200
                versions.append(response.json()["version"])
            return versions

        results = await asyncio.gather(*(writer(cl, n * 1000) for n, cl in enumerate((a, b, c, d))))
        total = WRITERS * WRITES_EACH
        seen = sorted(v for versions in results for v in versions)
        assert seen == list(range(start + 1, start + total + 1)), "each write got its own version"
        for client in (a, b, c, d):
            assert (await client.get("/products/9")).json()["version"] == start + total
