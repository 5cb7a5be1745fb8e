"""`bench contract` passes the library strategies' replicas, on SQLite and PostgreSQL.

As tests/test_contract.py does for our own: redis-server, a seeded origin and two
replicas started exactly as the local runtime starts them, then the CLI against them.
A library strategy declared `invalidates_on_write=False` is held to that (a fresh read
after a write is then a finding, not a requirement).
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
from bench.runtime.seed import seed
from services.strategies import STRATEGIES
from tests.conftest import PG_URL, postgres_reachable
from tests.test_contract import OWN, bench_contract, line_of

pytestmark = pytest.mark.libraries

CASHEWS = ("cashews", "cashews-lock", "cashews-early", "cashews-csc")


async def _schema(action: str, schema: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"{action} SCHEMA {schema}{' CASCADE' if action == 'DROP' else ''}")
    finally:
        await conn.close()


@pytest.fixture(
    scope="module",
    params=[(s, db) for s in CASHEWS for db in ("sqlite", "postgres")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def library_replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[Replica]]]:
    strategy, database = request.param
    work = tmp_path_factory.mktemp("contract-lib")
    schema = None
    if database == "sqlite":
        database_url = f"sqlite:///{work / 'origin.db'}"
    else:
        if not postgres_reachable():
            pytest.skip("no PostgreSQL on 127.0.0.1:5432")
        schema = f"cib_{uuid.uuid4().hex[:12]}"
        asyncio.run(_schema("CREATE", schema))
        database_url = f"{PG_URL}?search_path={schema}"
    try:
        seed(database_url, OWN)
        with Supervisor(trap_signals=False) as supervisor:
            redis = start_redis(supervisor, work, log_path=work / "redis-server.log")
            config = ReplicaConfig(strategy, redis.url, database_url, 30.0)
            yield strategy, list(start_replicas(supervisor, config, 2, work / "logs"))
    finally:
        if schema is not None:
            asyncio.run(_schema("DROP", schema))


def test_bench_contract_passes_the_library_replicas(
    library_replicas: tuple[str, list[Replica]],
) -> None:
    strategy, replicas = library_replicas
    done = bench_contract(
        "--targets", ",".join(r.url for r in replicas),
        "--probe-ids", f"{OWN.probe_ids[0]}-{OWN.probe_ids[-1]}",
        "--products", str(OWN.products),
        "--categories", str(OWN.categories),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "contract v1: the contract holds"
    if STRATEGIES[strategy].invalidates_on_write:
        assert line_of(done.stdout, "fresh-next-read").startswith("fresh ")
        assert line_of(done.stdout, "fresh-everywhere").startswith("fresh ")
        assert "STALE" not in done.stdout
    assert "FAIL" not in done.stdout
