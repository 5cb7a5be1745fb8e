"""The lag meter on the machine's PostgreSQL: a marker the "replica" shows at once is a
sample near zero; one it never shows is kept as a censored lower bound, never dropped,
so a stalled replica raises the lag's max instead of vanishing from it. The replica here
is a schema of its own whose marker table nothing updates: a replica that stopped."""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bench.analysis.origin_lag import origin_lag
from bench.runtime.local.lag import LagMeter
from bench.runtime.waiting import wait_until
from tests.conftest import PG_URL, postgres_reachable

pytestmark = [
    pytest.mark.slow,  # waits on the meter's real time
    pytest.mark.skipif(not postgres_reachable(), reason="no PostgreSQL on 127.0.0.1:5432"),
]


@pytest.fixture
async def schemas() -> AsyncIterator[tuple[str, str]]:
    """Two schemas' URLs: a primary, and a stopped replica whose marker stays at 0."""
    names = [f"cib_lag_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    conn = await asyncpg.connect(PG_URL)
    for name in names:
        await conn.execute(f"CREATE SCHEMA {name}")
    await conn.execute(f"CREATE TABLE {names[1]}.bench_lag (id INT PRIMARY KEY, mark BIGINT)")
    await conn.execute(f"INSERT INTO {names[1]}.bench_lag VALUES (1, 0)")
    try:
        yield tuple(f"{PG_URL}?search_path={name}" for name in names)  # type: ignore[misc]
    finally:
        for name in names:
            await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


def samples(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as file:
        return list(csv.DictReader(file))


def measure(tmp_path: Path, primary: str, replica: str, enough: int) -> list[dict[str, str]]:
    out = tmp_path / "origin_lag" / "delete.csv"
    meter = LagMeter(primary, replica, out, give_up_s=0.3).start()
    try:
        wait_until(lambda: len(samples(out)) >= enough, 10, what=f"{enough} lag samples")
    finally:
        meter.stop()
    assert meter.error is None, meter.error
    return samples(out)


def test_a_replica_that_shows_the_marker_gives_small_uncensored_samples(
    tmp_path: Path, schemas: tuple[str, str]
) -> None:
    primary, _ = schemas
    rows = measure(tmp_path, primary, primary, 2)
    assert all(r["censored"] == "0" and float(r["lag_ms"]) < 300 for r in rows), rows


def test_a_stopped_replica_is_a_censored_lower_bound_that_raises_the_max(
    tmp_path: Path, schemas: tuple[str, str]
) -> None:
    rows = measure(tmp_path, *schemas, 2)
    assert rows and all(r["censored"] == "1" and float(r["lag_ms"]) >= 300 for r in rows), rows
    assert origin_lag(tmp_path).loc["delete", "origin_lag_ms_max"] >= 300
