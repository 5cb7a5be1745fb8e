"""`bench contract` against the library strategies' own replicas, on SQLite and PostgreSQL.

Two replicas of each, on their own redis-server and a seeded origin, started as the local
runtime starts them (as `tests/test_contract.py` does for ours). A library strategy keeps
the same HTTP contract as ours; its freshness is what its registry entry declares: one
that `invalidates_on_write` must be fresh on the next read and everywhere, one that does
not (`fastapi-cache2`, like `ttl`) is held to the contract alone and its staleness is a
finding, never a breach.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from bench.runtime.base import Replica
from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed
from services.strategies import LIBRARY_STRATEGIES, STRATEGIES
from tests.conftest import PG_URL, postgres_reachable
from tests.test_contract import bench_contract, line_of

pytestmark = pytest.mark.libraries

OWN = SeedPlan(products=100, categories=5)


def _pg(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A seeded origin for the module: SQLite in a file, PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('origin') / 'origin.db'}"
        seed(url, OWN)
        yield url
        return
    if not postgres_reachable():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    schema = f"cib_{uuid.uuid4().hex[:12]}"
    _pg(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?search_path={schema}"
    try:
        seed(url, OWN)
        yield url
    finally:
        _pg(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="module", params=LIBRARY_STRATEGIES)
def library_replicas(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    work = tmp_path_factory.mktemp("contract-lib")
    with Supervisor(trap_signals=False) as supervisor:
        redis = start_redis(supervisor, work, log_path=work / "redis-server.log")
        config = ReplicaConfig(request.param, redis.url, database_url, 30.0)
        yield list(start_replicas(supervisor, config, 2, work / "logs"))


def test_bench_contract_holds_for_the_library_strategies(
    library_replicas: list[Replica],
) -> None:
    strategy = library_replicas[0].name.rpartition("-")[0]
    done = bench_contract(
        "--targets", ",".join(r.url for r in library_replicas),
        "--probe-ids", f"{OWN.probe_ids[0]}-{OWN.probe_ids[-1]}",
        "--products", str(OWN.products),
        "--categories", str(OWN.categories),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "contract v1: the contract holds"
    assert "FAIL" not in done.stdout, done.stdout
    if STRATEGIES[strategy].invalidates_on_write:
        assert line_of(done.stdout, "fresh-next-read").startswith("fresh ")
        assert line_of(done.stdout, "fresh-everywhere").startswith("fresh ")
        assert "STALE" not in done.stdout
    else:  # like ttl: the write is not visible until the TTL, a finding and not a breach
        assert line_of(done.stdout, "fresh-next-read").startswith("STALE "), done.stdout
