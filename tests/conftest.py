"""Real parts only: a redis-server of our own, a seeded SQLite file, the local PostgreSQL."""

import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from bench.runtime.local.redis_server import find_redis_server
from bench.runtime.ports import free_port
from bench.runtime.seed import SeedPlan, seed_async
from bench.runtime.waiting import wait_until
from services.app import create_app
from services.config import Settings
from tests.waiting import async_wait_until

PG_URL = os.environ.get("DATABASE_URL_PG", "postgresql://postgres@127.0.0.1:5432/test")
PLAN = SeedPlan(products=50, categories=5, probe_products=4)


class RedisProcess:
    """A private redis-server on a free port, which a test may kill."""

    def __init__(self, workdir: Path, port: int | None = None, binary: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                str(binary or find_redis_server()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, 10, what="redis-server to answer PING", poll_interval_s=0.01)
        client.close()

    @classmethod
    def on_port(cls, port: int, workdir: Path) -> "RedisProcess":
        """Start again where a stopped one listened, as a restarted Redis would."""
        return cls(workdir, port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


@pytest.fixture(scope="session")
def redis_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_proc: RedisProcess) -> str:
    redis.Redis(port=redis_proc.port).flushall()
    return redis_proc.url


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A freshly seeded origin; PostgreSQL in a schema of its own, dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'origin.db'}"
        await seed_async(url, PLAN)
        yield url
        return
    if not postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL must be reachable on 127.0.0.1:5432 in CI")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    schema = f"cib_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?search_path={schema}"
    try:
        await seed_async(url, PLAN)
        yield url
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


@asynccontextmanager
async def replica(
    strategy: str, redis_url: str, database_url: str, name: str = "r1", **settings: object
) -> AsyncIterator[httpx.AsyncClient]:
    """One app instance with its lifespan running, reached in-process over ASGI."""
    config = Settings(
        cache_strategy=strategy,
        redis_url=redis_url,
        database_url=database_url,
        replica_name=name,
        **settings,  # type: ignore[arg-type]
    )
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def raw_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The replica as a server answers: an exception out of the app is a 500 (a library
    strategy's errors are data here, not a test's crash)."""
    app = client.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://r1")


async def answered_by_redis_again(client: httpx.AsyncClient, path: str = "/products/4"
                                  ) -> httpx.Response:  # fmt: skip
    """After a Redis pause: the first read of `path` Redis answers (it has run what was
    queued while it was stopped); within 10 s."""
    answers: list[httpx.Response] = []

    async def from_redis() -> bool:
        answers.append(await client.get(path))
        return answers[-1].headers.get("x-cache") == "redis"

    await async_wait_until(from_redis, 10, f"Redis to answer {path} again")
    return answers[-1]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two replicas of the example shop on one Redis of their own; their URLs."""
    from bench.runtime.local.redis_server import start_redis
    from bench.runtime.processes import Supervisor
    from tests.shop import start_shop

    tmp = tmp_path_factory.mktemp("shop")
    with Supervisor() as supervisor:
        redis = start_redis(supervisor, tmp, log_path=tmp / "redis.log")
        yield from start_shop(tmp, [redis.url, redis.url])
