"""What each strategy does with a read replica that lags, on real Redis and real SQLite.

The read replica is a second SQLite file seeded alike and never written by the app
(`DATABASE_READ_URL`): a replica that is behind forever. It "catches up" when a test
copies the primary's row into it, as replication would. Against it `delete` puts the
old row back in the cache on the next miss (the problem), `guarded` answers the old
row but never caches it, `marker` reads the primary on a miss within its marker's life,
and `double-delete`'s second delete removes what a miss put back within its delay.
"""

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from bench.runtime.seed import seed_async
from bench.runtime.verify import PROPAGATION_TIMEOUT_S
from services.config import SettingsError, load_settings
from services.strategies.guarded import floor_key
from services.strategies.marker import marker_key
from tests.conftest import PLAN, replica
from tests.waiting import async_wait_until

PRODUCT = 7  # category c1 in the test plan
KEY = f"product:{PRODUCT}"
LIST = "category:c1:products"
PATH, LIST_PATH = f"/products/{PRODUCT}", "/categories/c1/products"


@pytest.fixture
async def origins(tmp_path: Path) -> tuple[str, str]:
    """The primary's URL and its read replica's, both seeded alike."""
    primary, behind = tmp_path / "primary.db", tmp_path / "behind.db"
    for path in (primary, behind):
        await seed_async(f"sqlite:///{path}", PLAN)
    return f"sqlite:///{primary}", f"sqlite:///{behind}"


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@asynccontextmanager
async def lagging(
    strategy: str, redis_url: str, origins: tuple[str, str], name: str = "r1", **options: object
) -> AsyncIterator[httpx.AsyncClient]:
    """One replica of `strategy` that writes to the primary and reads the lagging file."""
    primary, behind = origins
    async with replica(strategy, redis_url, primary, name, database_read_url=behind,
                       options=options) as client:  # fmt: skip
        yield client


def catch_up(origins: tuple[str, str], product_id: int = PRODUCT) -> None:
    """Replication arrives: the primary's row, copied into the read replica."""
    primary, behind = (url.removeprefix("sqlite:///") for url in origins)
    with sqlite3.connect(primary) as source:
        row = source.execute(
            "SELECT name, price, version, updated_at FROM products WHERE id = ?", (product_id,)
        ).fetchone()
    with sqlite3.connect(behind) as target:
        target.execute(
            "UPDATE products SET name = ?, price = ?, version = ?, updated_at = ? WHERE id = ?",
            (*row, product_id),
        )


async def write(client: httpx.AsyncClient, price: float = 9.5) -> int:
    written = await client.patch(PATH, json={"price": price})
    assert written.status_code == 200, written.text
    return written.json()["version"]


async def read(client: httpx.AsyncClient, path: str = PATH) -> tuple[str, int]:
    """Where the read came from, and the version of the product under test in it."""
    answer = await client.get(path)
    assert answer.status_code == 200
    body = answer.json()
    item = next(i for i in body["items"] if i["id"] == PRODUCT) if "items" in body else body
    return answer.headers["x-cache"], item["version"]


async def cached_version(r: aioredis.Redis, key: str = KEY) -> int | None:
    """The version of the product under test in Redis under `key`, None if absent."""
    body = await r.get(key)
    if body is None:
        return None
    doc = json.loads(body)
    return next(i for i in doc["items"] if i["id"] == PRODUCT)["version"] if "items" in doc \
        else doc["version"]  # fmt: skip


# --- delete: the problem ------------------------------------------------------------


async def test_delete_re_caches_the_old_row_from_a_lagging_replica(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    async with lagging("delete", redis_url, origins) as c:
        assert await read(c) == ("miss", 1)
        assert await write(c) == 2
        assert await cached_version(r) is None, "the write deleted the key"
        assert await read(c) == ("miss", 1), "the miss read the replica, which is behind"
        assert await cached_version(r) == 1, "and put the old row back"
        catch_up(origins)
        assert await read(c) == ("redis", 1), "stale until the TTL, though the replica caught up"


# --- guarded ------------------------------------------------------------------------


async def test_guarded_answers_the_old_row_but_never_caches_it(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    async with lagging("guarded", redis_url, origins) as c:
        assert await read(c) == ("miss", 1)
        assert await read(c) == ("redis", 1)
        assert await write(c) == 2
        assert int(await r.get(floor_key(KEY))) == 2, "the write left its version as the floor"
        for _ in range(3):
            assert await read(c) == ("miss", 1), "answered from the replica, as it is"
            assert await cached_version(r) is None, "but below the floor: not cached"
        assert c.app.state.strategy.health()["refused_fills"] == 3  # type: ignore[attr-defined]
        catch_up(origins)
        assert await read(c) == ("miss", 2), "the replica caught up: the new row fills"
        assert await read(c) == ("redis", 2)


async def test_guarded_refuses_a_list_holding_a_product_below_its_floor(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    async with lagging("guarded", redis_url, origins) as c:
        assert await read(c, LIST_PATH) == ("miss", 1)
        assert await cached_version(r, LIST) == 1
        old = await r.get(LIST)
        await write(c)
        assert await read(c, LIST_PATH) == ("miss", 1)
        assert await r.exists(LIST) == 0, "one item below its floor: the list is not cached"
        assert (await c.get("/categories/c2/products")).headers["x-cache"] == "miss"
        assert await r.exists("category:c2:products") == 1, "a list without it fills as usual"
        catch_up(origins)
        assert await read(c, LIST_PATH) == ("miss", 2)
        assert await read(c, LIST_PATH) == ("redis", 2)
        await r.delete(floor_key(KEY))  # no floor left: the cached list alone guards it
        strategy = c.app.state.strategy  # type: ignore[attr-defined]
        assert not await strategy.fill(LIST, old, json.loads(old)["items"])
        assert await cached_version(r, LIST) == 2, "an item older than its cached copy"


async def test_guarded_never_overwrites_a_newer_value_nor_fills_below_the_floor(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    """The read/write race too: a row read before the write, filled after its delete,
    is below the floor; and an older row never replaces a newer one in the cache."""
    async with lagging("guarded", redis_url, origins) as c:
        strategy = c.app.state.strategy  # type: ignore[attr-defined]
        old = await c.get(PATH)
        await write(c)
        catch_up(origins)
        new = await c.get(PATH)
        assert await cached_version(r) == 2 and int(await r.get(floor_key(KEY))) == 2
        await r.delete(floor_key(KEY))
        assert not await strategy.fill(KEY, old.content, [old.json()]), "below the cached one"
        await r.delete(KEY)
        await r.set(floor_key(KEY), 2, px=5_000)
        assert not await strategy.fill(KEY, old.content, [old.json()]), "below the floor"
        assert await r.exists(KEY) == 0
        assert await strategy.fill(KEY, new.content, [new.json()]), "at the floor: filled"
        assert await strategy.fill(KEY, new.content, [new.json()]), "equal to the cached one"
        await r.delete(KEY, floor_key(KEY))
        assert await strategy.fill(KEY, old.content, [old.json()]), "nothing to compare with"
        assert await strategy.fill(KEY, new.content, [new.json()]), "newer than the cached one"
        assert await cached_version(r) == 2


async def test_guarded_s_floor_must_outlast_the_lag(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    """Past its floor the guard has nothing to compare with: an old row fills."""
    async with lagging("guarded", redis_url, origins, **{"floor-ms": 150}) as c:
        await write(c)
        assert 0 < await r.pttl(floor_key(KEY)) <= 150, "the declared option sets the floor's life"
        assert await read(c) == ("miss", 1)
        assert await cached_version(r) is None

        async def floor_gone() -> bool:
            return not await r.exists(floor_key(KEY))

        await async_wait_until(floor_gone, 5, "the floor to expire")
        assert await read(c) == ("miss", 1)
        assert await cached_version(r) == 1, "no floor left: the replica's old row is cached"


# --- marker -------------------------------------------------------------------------


async def test_marker_reads_the_primary_on_a_miss_within_its_ttl(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    async with lagging("marker", redis_url, origins) as c:
        strategy = c.app.state.strategy  # type: ignore[attr-defined]
        assert await read(c) == ("miss", 1)
        assert strategy.health()["primary_reads"] == 0, "no marker: the replica answers"
        await write(c)
        assert 1_500 < await r.pttl(marker_key(KEY)) <= 2_000, "MARKER_TTL_MS's default"
        assert await r.exists(marker_key(LIST)) == 1
        assert await read(c) == ("miss", 2), "marked: read the primary, fresh"
        assert await cached_version(r) == 2, "and filled from it"
        assert await read(c) == ("redis", 2)
        assert await read(c, LIST_PATH) == ("miss", 2), "the list is marked too"
        assert strategy.health()["primary_reads"] == 2


async def test_marker_must_outlast_the_lag(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    """Past its marker a miss reads the replica again, and fills what it finds."""
    async with lagging("marker", redis_url, origins, **{"ttl-ms": 150}) as c:
        await write(c)
        assert 0 < await r.pttl(marker_key(KEY)) <= 150, "the declared option sets its life"

        async def marker_gone() -> bool:
            return not await r.exists(marker_key(KEY))

        await async_wait_until(marker_gone, 5, "the marker to expire")
        assert await read(c) == ("miss", 1)
        assert await cached_version(r) == 1


# --- double-delete ------------------------------------------------------------------


async def test_double_delete_s_second_delete_removes_a_stale_refill(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    delay_ms = 1000  # long enough that the refill below comes within it on a busy machine
    async with lagging("double-delete", redis_url, origins, **{"delay-ms": delay_ms}) as c:
        strategy = c.app.state.strategy  # type: ignore[attr-defined]
        assert strategy.delay_s == delay_ms / 1000
        assert await read(c) == ("miss", 1)
        assert await read(c) == ("redis", 1)
        sent = time.monotonic()
        assert await write(c) == 2
        assert await cached_version(r) is None, "the first delete, before the commit"
        assert strategy.health()["second_deletes"] == 1
        assert await read(c) == ("miss", 1), "the replica is behind"
        assert await cached_version(r) == 1, "a stale refill, within the delay"

        async def done() -> bool:
            return strategy.health()["second_deletes"] == 0

        await async_wait_until(done, 5, "the second delete")
        assert time.monotonic() - sent >= 0.9 * delay_ms / 1000, "not before its delay"
        assert await cached_version(r) is None, "it removed the stale refill"
        catch_up(origins)
        assert await read(c) == ("miss", 2)
        assert await read(c) == ("redis", 2)


async def test_double_delete_leaves_no_task_behind_when_it_stops(
    redis_url: str, origins: tuple[str, str]
) -> None:
    async with lagging("double-delete", redis_url, origins, **{"delay-ms": 60_000}) as c:
        strategy = c.app.state.strategy  # type: ignore[attr-defined]
        await write(c)
        await write(c, 10.5)
        pending = set(strategy._pending)
        assert len(pending) == 2
    assert all(task.cancelled() for task in pending)
    assert not strategy._pending


# --- every one of them: invalidates on write, options declared -----------------------

LAG_S = 0.2  # the replica applies the write this long after its commit


@asynccontextmanager
async def write_then_replicate(
    strategy: str, redis_url: str, origins: tuple[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two replicas that cached version 1; a write through the first, which the read
    replica applies LAG_S later. Yields both replicas once the write answered."""
    async with (
        lagging(strategy, redis_url, origins, "a") as a,
        lagging(strategy, redis_url, origins, "b") as b,
    ):
        for client in (a, b):
            await read(client)
        assert await write(a) == 2

        async def replicate() -> None:
            await asyncio.sleep(LAG_S)
            catch_up(origins)

        replication = asyncio.create_task(replicate())
        yield a, b
        await replication


@pytest.mark.parametrize("strategy", ["double-delete", "guarded", "marker"])
async def test_verify_s_promise_holds_on_a_replica_that_lags(
    strategy: str, redis_url: str, origins: tuple[str, str]
) -> None:
    """What `verify` holds an invalidating strategy to: every replica serves the write
    within 2 s, polled every 10 ms from the moment it answered, the replica lagging."""
    async with write_then_replicate(strategy, redis_url, origins) as both:
        for client in both:

            async def fresh(client: httpx.AsyncClient = client) -> bool:
                return (await read(client))[1] == 2

            await async_wait_until(fresh, PROPAGATION_TIMEOUT_S, f"{strategy} to serve v2")


async def test_delete_breaks_verify_s_promise_on_a_replica_that_lags(
    r: aioredis.Redis, redis_url: str, origins: tuple[str, str]
) -> None:
    """The old row a miss put back outlives the lag: the replica caught up, and the
    cache still serves version 1, for the rest of its 30 s TTL."""
    async with write_then_replicate("delete", redis_url, origins) as both:
        deadline = time.monotonic() + LAG_S + 0.5
        while time.monotonic() < deadline:
            assert [(await read(client))[1] for client in both] == [1, 1]
            await asyncio.sleep(0.01)
        assert await cached_version(r) == 1 and await r.pttl(KEY) > 25_000


@pytest.mark.parametrize("strategy", ["double-delete", "guarded", "marker"])
async def test_without_a_read_replica_the_next_read_is_fresh(
    strategy: str, r: aioredis.Redis, redis_url: str, database_url: str
) -> None:
    """One origin (SQLite, PostgreSQL): each is `delete` for the next read."""
    async with replica(strategy, redis_url, database_url) as c:
        await read(c)
        await read(c, LIST_PATH)
        version = await write(c)
        assert await r.exists(KEY, LIST) == 0
        assert await read(c) == ("miss", version)
        assert await read(c, LIST_PATH) == ("miss", version)
        assert await read(c) == ("redis", version)


@pytest.mark.parametrize(
    ("strategy", "variable", "value", "option", "parsed"),
    [("double-delete", "DOUBLE_DELETE_DELAY_MS", "750", "delay-ms", 750),
     ("guarded", "GUARDED_FLOOR_MS", "8000", "floor-ms", 8000),
     ("marker", "MARKER_TTL_MS", "", "ttl-ms", 2000)],
)  # fmt: skip
def test_each_reads_its_declared_option_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, strategy: str, variable: str, value: str, option: str,
    parsed: int,
) -> None:  # fmt: skip
    monkeypatch.setenv(variable, value)
    assert load_settings(cache_strategy=strategy).options == {option: parsed}


@pytest.mark.parametrize(
    ("strategy", "variable", "value", "says"),
    [("double-delete", "DOUBLE_DELETE_DELAY_MS", "0", "must be greater than 0, got 0"),
     ("guarded", "GUARDED_FLOOR_MS", "-5", "must be greater than 0, got -5"),
     ("marker", "MARKER_TTL_MS", "soon", "must be an integer, got 'soon'"),
     ("marker", "MARKER_TTL_MS", "1.5", "must be an integer, got '1.5'")],
)  # fmt: skip
def test_a_bad_value_is_refused_in_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, strategy: str, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(cache_strategy=strategy)
    assert str(refused.value) == f"{variable}={value!r}: {says}"


@pytest.mark.parametrize(
    ("flag", "says"),
    [("--double-delete-delay-ms", "--double-delete-delay-ms must be greater than 0"),
     ("--guarded-floor-ms", "--guarded-floor-ms must be an integer, got 'x'"),
     ("--marker-ttl-ms", "--marker-ttl-ms must be an integer, got 'x'")],
)  # fmt: skip
def test_bench_run_refuses_a_bad_value_in_one_line(flag: str, says: str) -> None:
    value = "0" if "double" in flag else "x"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--strategies", "double-delete,guarded,marker",
         "--duration", "1", flag, value],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr
