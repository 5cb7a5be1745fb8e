"""The suite's own PostgreSQL primary starts whatever locale the environment names: initdb
runs with the C locale, which exists everywhere, rather than the caller's LANG, which may
not be installed (initdb then refuses with "invalid locale settings")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bench.runtime.local.postgres import PostgresOrigin, find_bindir
from bench.runtime.processes import Supervisor

pytestmark = pytest.mark.slow  # initdb and a server start: about a second


async def collation(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW lc_collate"))
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
