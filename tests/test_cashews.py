"""cashews 7.6.0's known answer and the targeted experiments its source suggested, on real
replicas (docs/libraries.md). Each asserts what was measured, so that an upgrade of
cashews or redis-py that changes it fails here and the behaviour card is redone.

- `cashews` loses only the read/write race `delete` loses: its stale-read ratio under
  `read_mostly` is at most 0.5 points above `delete`'s.
- `cashews-csc`, backends/redis/client_side.py: a replica's own write of a key (a fill)
  marks it "recently updated" for 5 s (`_expire_for_recently_update`, line 84; set at
  114-115 and 196-197), and the first invalidation that arrives for a marked key is
  ignored (161, 171-173), meant for the echo of that write. Built on purpose: B fills,
  A writes 0.05 to 3 s later. Redis sends B the echo of its own SET first, which spends
  the mark, so A's invalidation drops B's copy: B serves the new version within
  milliseconds, the window costs nothing. Under RESP3, redis-py 8's default, B hears
  nothing at all: its copy, a Redis hit kept with no expiry (line 184), outlives the TTL.
- `cashews-lock` under `race`: its lock is no lease; a fill that read the row before a
  write still lands after the write's delete, as for `delete`, while `lease` has none.
- `cashews`' tags under a Redis pause: a write's SPOP of the tag's set times out (1 s,
  suppressed: wrapper/tags.py:93-101 gets [] from backends/redis/backend.py:396-399),
  so it UNLINKs nothing; Redis runs the buffered SPOP when it resumes, emptying the set.
  The key is orphaned from its tag: every later write misses it too, stale until its TTL.
  (`delete`'s buffered DEL runs on resume and the key goes.)
- `cashews`' tags under concurrent writes and fills, no fault at all: a write UNLINKs the
  keys it SPOPped, then its on-remove callback SREMs them from their tag's set
  (backends/redis/backend.py:208-218, wrapper/tags.py:72-77). A fill that SETs and SADDs
  the key in between is left in Redis outside its tag: no later write finds it, and it
  is served stale until its TTL (under `update_heavy`, 2 replicas: 5.6% stale reads, up
  to 10.3 s old, against `delete`'s 0.04%).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import redis

from bench.runtime.base import Replica
from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed, seed_async
from tests.conftest import RedisProcess, replica

pytestmark = pytest.mark.libraries

RUN = [sys.executable, "-m", "bench", "run", "--replicas", "2", "--duration", "15"]
PLAN = SeedPlan(products=40, categories=4)
WINDOW_S = 5.0  # client_side.py:84
TTL_S = 2.0


def summary_of(results: Path, *args: str) -> pd.DataFrame:
    done = subprocess.run([*RUN, "--results", str(results), *args], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    return pd.read_csv(folder / "summary.csv").set_index("strategy")


def read(replica: Replica, product_id: int) -> tuple[int, str]:
    """The version a replica serves and its X-Cache."""
    reply = httpx.get(f"{replica.url}/products/{product_id}", timeout=5)
    reply.raise_for_status()
    return reply.json()["version"], reply.headers["x-cache"]


def write(replica: Replica, product_id: int) -> int:
    reply = httpx.patch(f"{replica.url}/products/{product_id}", json={"name": "w"}, timeout=5)
    reply.raise_for_status()
    version: int = reply.json()["version"]
    return version


def stale_for(replica: Replica, product_id: int, written: int, limit_s: float) -> float:
    """Seconds from now until `replica` serves `written` (polled every 5 ms); `limit_s` if
    it never does within that bound."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < limit_s:
        if read(replica, product_id)[0] >= written:
            return elapsed
        time.sleep(0.005)
    return limit_s


@pytest.fixture(scope="module")
def csc_pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[bool, list[Replica]]]:
    """Two `cashews-csc` replicas on their own Redis and SQLite origin, TTL 2 s; RESP3
    (redis-py 8's default) when the param says so."""
    resp3: bool = request.param
    work = tmp_path_factory.mktemp("csc")
    database_url = f"sqlite:///{work / 'origin.db'}"
    seed(database_url, PLAN)
    with Supervisor(trap_signals=False) as supervisor:
        redis = start_redis(supervisor, work, log_path=work / "redis-server.log")
        options = {"CASHEWS_CSC_RESP3": "1" if resp3 else "0"}
        config = ReplicaConfig("cashews-csc", redis.url, database_url, TTL_S, options_env=options)
        yield resp3, list(start_replicas(supervisor, config, 2, work / "logs"))


@pytest.mark.parametrize("csc_pair", [False], indirect=True, ids=["resp2"])
def test_csc_heeds_a_write_inside_its_recently_updated_window(
    csc_pair: tuple[bool, list[Replica]],
) -> None:
    """B fills a key (its own write, marked for 5 s), A writes it within the window."""
    _, (a, b) = csc_pair
    stale_s = {}
    for product_id, delay_s in zip((1, 2, 3), (0.05, 1.0, 3.0), strict=True):
        assert read(b, product_id)[1] == "miss"  # B filled it: the key is marked on B
        filled = time.monotonic()
        assert read(b, product_id)[1] == "local"
        time.sleep(delay_s)  # places A's write at a chosen point of the window
        written = write(a, product_id)
        assert time.monotonic() - filled < WINDOW_S
        stale_s[delay_s] = stale_for(b, product_id, written, limit_s=WINDOW_S + 1)
    # measured: B's first read after A's reply was already the new version, at every
    # delay (the listener polls every 0.1 s at worst); TTL 2 s, so an invalidation B
    # ignored would have shown as stale for ~1 s or more
    print(f"cashews-csc, B stale after A's write, s by delay after B's fill: {stale_s}")
    assert max(stale_s.values()) < 0.2, stale_s


@pytest.mark.parametrize("csc_pair", [True], indirect=True, ids=["resp3"])
def test_csc_under_resp3_outlives_the_ttl_on_a_replica_that_read_redis(
    csc_pair: tuple[bool, list[Replica]],
) -> None:
    _, (a, b) = csc_pair
    product_id = 10
    assert read(a, product_id)[1] == "miss"  # A fills Redis (and its copy, with the TTL)
    before, source = read(b, product_id)
    assert source == "redis"  # B's copy of a Redis hit: kept with no expiry
    written = write(a, product_id)
    assert read(a, product_id)[0] == written  # the writer's own copy was dropped
    # four TTLs later B still answers the old version from its copy: no invalidation
    # reached it, and nothing expires what it keeps
    assert stale_for(b, product_id, written, limit_s=4 * TTL_S) == 4 * TTL_S
    assert read(b, product_id) == (before, "local")


def test_cashews_loses_no_more_than_deletes_race_under_read_mostly(tmp_path: Path) -> None:
    summary = summary_of(tmp_path, "--strategies", "cashews,delete", "--scenario", "read_mostly")
    stale = summary["stale_read_ratio"]
    assert stale["cashews"] <= stale["delete"] + 0.005, stale


def test_cashews_lock_is_no_lease_under_the_race(tmp_path: Path) -> None:
    summary = summary_of(tmp_path, "--strategies", "cashews-lock,delete,lease",
                         "--scenario", "race")  # fmt: skip
    stale = summary["stale_reads_cached"]
    assert stale["delete"] > 0, "the slow origin opens the race for delete"
    assert stale["cashews-lock"] > 0, "a fill that read before the write lands after it"
    assert stale["lease"] == 0


async def test_a_write_during_a_redis_pause_orphans_the_key_from_its_tag(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    database_url = f"sqlite:///{tmp_path / 'origin.db'}"
    await seed_async(database_url, PLAN)
    client = redis.Redis(port=server.port)
    try:
        async with replica("cashews", server.url, database_url) as app:
            path = "/products/5"
            before = (await app.get(path)).json()["version"]
            assert client.exists("_tag:product:5")
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                written = await app.patch(path, json={"name": "paused"})
                took_s = time.monotonic() - started
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            assert written.status_code == 200, "the write commits; its invalidation fails open"
            assert 1.9 < took_s < 3.0, took_s  # one 1 s timeout per tag: product and list
            await asyncio.to_thread(client.ping)
            assert not client.exists("_tag:product:5"), "the buffered SPOP ran on resume"
            again = await app.patch(path, json={"name": "resumed"})  # Redis answers now
            assert again.json()["version"] == before + 2
            served = await app.get(path)
            assert (served.json()["version"], served.headers["x-cache"]) == (before, "redis")
            assert client.pttl("product:5") > 0, "stale until the TTL"
    finally:
        client.close()
        server.stop()


def outside_its_tag(client: redis.Redis, key: str) -> bool:
    """The key is in Redis but not in its tag's set, and stays so for 0.4 s: longer than
    a fill's SET-SADD gap, even on a busy machine."""
    for _ in range(5):
        if not client.exists(key) or client.sismember(f"_tag:{key}", key):
            return False
        time.sleep(0.1)
    return True


def test_a_write_racing_a_fill_orphans_the_key_from_its_tag(tmp_path: Path) -> None:
    """Readers on both replicas keep a key hot while writes alternate between them, until
    the key is in Redis outside its tag's set (bounded: 30 s); then a write is not seen."""
    database_url = f"sqlite:///{tmp_path / 'origin.db'}"
    seed(database_url, PLAN)
    with Supervisor(trap_signals=False) as supervisor:
        server = start_redis(supervisor, tmp_path, log_path=tmp_path / "redis-server.log")
        config = ReplicaConfig("cashews", server.url, database_url, 30.0)
        replicas = start_replicas(supervisor, config, 2, tmp_path / "logs")
        client = redis.Redis.from_url(server.url)
        deadline = time.monotonic() + 30
        done = threading.Event()

        def keep_reading(url: str) -> None:
            with httpx.Client(timeout=5) as reads:
                while not done.is_set() and time.monotonic() < deadline:
                    reads.get(f"{url}/products/7")

        readers = [threading.Thread(target=keep_reading, args=(r.url,)) for r in replicas * 3]
        for reader in readers:
            reader.start()
        writes, orphaned = 0, False
        try:
            while not orphaned and time.monotonic() < deadline:
                write(replicas[writes % 2], 7)
                writes += 1
                time.sleep(0.02)
                orphaned = outside_its_tag(client, "product:7")
        finally:
            done.set()
            for reader in readers:
                reader.join()
        print(f"cashews: key orphaned from its tag after {writes} writes")
        assert orphaned, f"no orphan in {writes} writes"
        served_before = read(replicas[0], 7)[0]
        written = write(replicas[1], 7)
        # measured: orphaned after 2 to 160 writes; the write after it stays unseen
        served = [read(r, 7)[0] for r in replicas]
        assert served == [served_before] * 2 and served_before < written, (served, written)
        assert stale_for(replicas[0], 7, written, limit_s=1.0) == 1.0
        assert client.pttl("product:7") > 1000, "stale until the TTL"
        client.close()
