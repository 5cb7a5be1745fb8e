"""The outbox table: the Redis keys that committed writes still have to drop.

The `outbox` strategy (services/strategies/outbox.py) records a write's keys in the
write's own transaction and has a relay deliver them. The SQL of the two origins lives
here, behind one small interface: record, claim (the rows are deleted only when the
claim's body finished, i.e. Redis took the DEL; an error leaves them for a retry), and,
on PostgreSQL, LISTEN for the NOTIFY every recording commits with.

The table is created when the strategy starts, not by the shared `create_schema`, so
the origin of every other strategy stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import NamedTuple, Protocol

import aiosqlite
import asyncpg

from services.origin import Origin, PostgresOrigin, Product, SqliteOrigin, now_iso

CHANNEL = "cache_outbox"
# SQLite cannot notify another process of a commit, so a relay finds rows that another
# replica left (its Redis link cut, or it died before delivering) only by looking: every
# 100 ms bounds that delay well under the 1 s a write waits for its own delivery, for
# one indexed SELECT per replica, which the embedded origin takes in microseconds.
SQLITE_POLL_S = 0.1
# PostgreSQL wakes the relays with NOTIFY; the poll is only the safety net (a row skipped
# because another relay held it, a NOTIFY sent while the LISTEN connection was down).
POSTGRES_POLL_S = 0.25
LISTEN_CHECK_S = 1.0  # a LISTEN connection that died silently is found within this
RELISTEN_PAUSE_S = 0.2
OWN_ROW_LOCK_TIMEOUT = "1s"  # another relay holds the row for at most its DEL's timeout
log = logging.getLogger("services.outbox")

KeysOf = Callable[[Product], list[str]]


class Entry(NamedTuple):
    """One outbox row: a committed write's keys to drop."""

    id: int
    keys: list[str]


class OutboxStore(Protocol):
    poll_s: float
    listening: bool | None  # None: this origin cannot LISTEN

    async def create(self) -> None: ...
    async def record_update(
        self, product_id: int, changes: dict[str, object], keys_of: KeysOf
    ) -> tuple[Product, int] | None: ...
    def claim(self, limit: int) -> AbstractAsyncContextManager[list[Entry]]: ...
    def claim_ids(self, ids: Sequence[int]) -> AbstractAsyncContextManager[list[Entry]]: ...
    async def listen(self, wake: Callable[[], None]) -> None: ...


def outbox_store(origin: Origin) -> OutboxStore:
    if isinstance(origin, SqliteOrigin):
        return SqliteOutbox(origin)
    if isinstance(origin, PostgresOrigin):
        return PostgresOutbox(origin)
    raise TypeError(f"no outbox for an origin of type {type(origin).__name__}")


def _entries(rows: Sequence[aiosqlite.Row | asyncpg.Record]) -> list[Entry]:
    return [Entry(int(row["id"]), json.loads(row["keys"])) for row in rows]


class SqliteOutbox:
    """No row locks in SQLite, and holding its write lock across a Redis call would stop
    every writer of every replica for up to the Redis timeout while Redis hangs. So a
    claim reads the rows and deletes them after the DEL; two relays may both deliver a
    row, which is harmless: DEL is idempotent."""

    poll_s = SQLITE_POLL_S
    listening = None

    def __init__(self, origin: SqliteOrigin) -> None:
        self.origin = origin

    async def create(self) -> None:
        # AUTOINCREMENT: ids never come back after a delete, so a waiting write's id is
        # never taken by a later write's row.
        async with self.origin.transaction() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS cache_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " keys TEXT NOT NULL, created_at TEXT NOT NULL)"
            )

    async def record_update(
        self, product_id: int, changes: dict[str, object], keys_of: KeysOf
    ) -> tuple[Product, int] | None:
        async def record(conn: aiosqlite.Connection, row: Product) -> int:
            rows = await conn.execute_fetchall(
                "INSERT INTO cache_outbox (keys, created_at) VALUES (?, ?) RETURNING id",
                (json.dumps(keys_of(row)), now_iso()),
            )
            return int(next(iter(rows))[0])

        return await self.origin.update_product_and(product_id, changes, record)

    def claim(self, limit: int) -> AbstractAsyncContextManager[list[Entry]]:
        return self._claimed("SELECT id, keys FROM cache_outbox ORDER BY id LIMIT ?", (limit,))

    def claim_ids(self, ids: Sequence[int]) -> AbstractAsyncContextManager[list[Entry]]:
        marks = ", ".join("?" * len(ids))
        return self._claimed(
            f"SELECT id, keys FROM cache_outbox WHERE id IN ({marks}) ORDER BY id", tuple(ids)
        )

    @asynccontextmanager
    async def _claimed(
        self, select: str, parameters: tuple[int, ...]
    ) -> AsyncIterator[list[Entry]]:
        """The rows `select` finds, deleted once the caller's body finished."""
        entries = _entries(list(await self.origin.reader.execute_fetchall(select, parameters)))
        yield entries
        await self._forget(entries)

    async def _forget(self, entries: list[Entry]) -> None:
        if not entries:
            return
        marks = ", ".join("?" * len(entries))
        await self.origin.execute_write(
            f"DELETE FROM cache_outbox WHERE id IN ({marks})", tuple(e.id for e in entries)
        )

    async def listen(self, wake: Callable[[], None]) -> None:
        return None  # nothing to listen to: the relay polls


class PostgresOutbox:
    """Claims lock their rows (FOR UPDATE SKIP LOCKED) in a transaction that deletes them
    once Redis took the DEL, so the relays of several replicas never deliver a row twice,
    and a relay whose DEL failed rolls back and leaves the rows to the next try."""

    poll_s = POSTGRES_POLL_S

    def __init__(self, origin: PostgresOrigin) -> None:
        self.origin = origin
        self.listening: bool | None = False
        self.listener_pid: int | None = None  # its server process, while it listens
        # the payload of this process's NOTIFYs: its relay delivers its own writes' rows
        # already, so it only wakes for the other replicas'
        self.token = uuid.uuid4().hex
        self._lost = False  # the LISTEN connection's loss was logged, its return not yet

    async def create(self) -> None:
        async with self.origin.transaction() as conn:
            # Replicas start together, and two CREATE TABLE IF NOT EXISTS at once can
            # still fail on a unique index of the catalog: one at a time.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('cache_outbox'))")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS cache_outbox (id BIGSERIAL PRIMARY KEY,"
                " keys TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
            )

    async def record_update(
        self, product_id: int, changes: dict[str, object], keys_of: KeysOf
    ) -> tuple[Product, int] | None:
        async def record(conn: asyncpg.Connection, row: Product) -> int:
            outbox_id = await conn.fetchval(
                "INSERT INTO cache_outbox (keys) VALUES ($1) RETURNING id",
                json.dumps(keys_of(row)),
            )
            # inside the transaction: PostgreSQL delivers it at COMMIT, never before
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, self.token)
            return int(outbox_id)

        return await self.origin.update_product_and(product_id, changes, record)

    def claim(self, limit: int) -> AbstractAsyncContextManager[list[Entry]]:
        """Rows no other relay holds, the oldest first."""
        return self._claimed(
            "SELECT id, keys FROM cache_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", limit
        )

    def claim_ids(self, ids: Sequence[int]) -> AbstractAsyncContextManager[list[Entry]]:
        """These rows, waiting (boundedly) for a relay that holds one: a write waits for
        its own row, and a row another relay is delivering is delivered when it is gone."""
        return self._claimed(
            "SELECT id, keys FROM cache_outbox WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
            list(ids),
            lock_timeout=OWN_ROW_LOCK_TIMEOUT,
        )

    @asynccontextmanager
    async def _claimed(
        self, select: str, argument: object, lock_timeout: str | None = None
    ) -> AsyncIterator[list[Entry]]:
        """The rows `select` locks, deleted in the same transaction once the caller's body
        finished; an error in it rolls back and leaves them for the next try."""
        async with self.origin.transaction() as conn:
            if lock_timeout is not None:
                await conn.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
            entries = _entries(await conn.fetch(select, argument))
            yield entries
            if entries:
                await conn.execute(
                    "DELETE FROM cache_outbox WHERE id = ANY($1::bigint[])",
                    [e.id for e in entries],
                )

    async def listen(self, wake: Callable[[], None]) -> None:
        """Forever: LISTEN on a connection of its own (a pool's goes back to the pool and
        stops listening) and call `wake` at every NOTIFY; reconnect when it is lost."""
        while True:
            try:
                await self._listen_until_lost(wake)
            except Exception as exc:
                if not self._lost:
                    log.warning("outbox LISTEN connection lost (%s); polling meanwhile", exc)
                self._lost = True
            await asyncio.sleep(RELISTEN_PAUSE_S)

    def _on_notify(self, wake: Callable[[], None]) -> Callable[..., None]:
        def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            if payload != self.token:
                wake()

        return heard

    async def _listen_until_lost(self, wake: Callable[[], None]) -> None:
        conn = await asyncpg.connect(self.origin.url, timeout=5)
        try:
            await conn.add_listener(CHANNEL, self._on_notify(wake))
            self.listening, self.listener_pid = True, conn.get_server_pid()
            if self._lost:
                log.warning("outbox LISTEN connection is back")
                self._lost = False
            wake()  # a NOTIFY sent while nobody listened is gone: look now
            while True:  # a connection that died silently closes nothing: ask it
                await asyncio.sleep(LISTEN_CHECK_S)
                await conn.execute("SELECT 1", timeout=LISTEN_CHECK_S)
        finally:
            self.listening, self.listener_pid = False, None
            with contextlib.suppress(Exception):
                conn.terminate()
