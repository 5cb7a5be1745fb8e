"""The origin's version is exact: one per write, whatever the concurrency."""

import asyncio
from pathlib import Path

import pytest

from bench.runtime.seed import seed_async
from tests.conftest import PLAN, replica

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


async def test_reads_go_to_the_read_replica_and_writes_to_the_primary(
    redis_url: str, tmp_path: Path
) -> None:
    """A read replica that is behind (here a second SQLite file seeded alike and never
    written) answers the reads; a write lands on the primary; `primary=True` reads it."""
    primary, behind = f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{tmp_path / 'behind.db'}"
    await seed_async(primary, PLAN)
    await seed_async(behind, PLAN)
    async with replica("ttl", redis_url, primary, database_read_url=behind) as client:
        written = (await client.patch("/products/3", json={"price": 9.5})).json()
        assert written["version"] == 2
        origin = client.app.state.origin  # type: ignore[attr-defined]
        assert (await origin.get_product(3))["version"] == 1  # the replica is behind
        assert (await origin.get_product(3, primary=True))["version"] == 2
        assert [p["version"] for p in await origin.list_category("c2", primary=True)
                if p["id"] == 3] == [2]  # fmt: skip
        assert (await client.get("/products/3")).json()["version"] == 1  # a miss: from behind
