"""The origin: the source of truth every strategy caches.

SQLite in WAL mode is the embedded default (one file shared by every local
replica); PostgreSQL is used when DATABASE_URL says so. Both bump `version`
by exactly one per write inside the UPDATE itself, so concurrent writers from
several replicas can never lose an increment.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite
import asyncpg

Product = dict[str, Any]
T = TypeVar("T")

COLUMNS = "id, name, price, category, version, updated_at"
SEED_UPDATED_AT = "2026-01-01T00:00:00+00:00"


class OriginUnavailable(Exception):
    """The origin cannot be opened; the message says which URL and why."""


# What a request meets when the origin stops answering mid-run: a connection refused or
# timed out, or one the server or the network dropped. The app answers 503 (retry
# later), not a 500 with a traceback; podman's young networks showed both on a run.
UNREACHABLE: tuple[type[Exception], ...] = (OSError, asyncpg.exceptions.PostgresConnectionError)


class Origin(Protocol):
    """The source of truth. A read may go to a read replica (`DATABASE_READ_URL`), which can
    lag behind; `primary=True` asks the primary itself (a strategy that must not fill from
    a lagging replica). Without a read replica `primary` changes nothing."""

    async def get_product(self, product_id: int, *, primary: bool = False) -> Product | None: ...
    async def update_product(self, product_id: int, changes: dict[str, Any]) -> Product | None: ...
    async def list_category(self, category: str, *, primary: bool = False) -> list[Product]: ...
    async def category_of(self, product_id: int, *, primary: bool = False) -> str | None: ...
    async def create_schema(self) -> None: ...
    async def insert_products(self, rows: list[Product]) -> int: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class _Delayed:
    """ORIGIN_DELAY_MS models a costly query; it sleeps, so it never blocks the loop. A
    read sleeps after its SELECT: a slow query answers with the rows as they were when it
    began (PostgreSQL's statement snapshot), which is what opens the read/write race."""

    def __init__(self, delay_ms: float) -> None:
        self._base_delay_ms = delay_ms
        self._delay_s = delay_ms / 1000

    def slow_down(self, extra_ms: float) -> None:
        """An injected fault (origin-slow): every query costs `extra_ms` more, until 0."""
        self._delay_s = (self._base_delay_ms + extra_ms) / 1000

    async def _delay(self) -> None:
        if self._delay_s:
            await asyncio.sleep(self._delay_s)


class SqliteOrigin(_Delayed):
    """Two connections: reads never queue behind a write that waits for the file lock."""

    def __init__(self, path: str, delay_ms: float = 0.0) -> None:
        super().__init__(delay_ms)
        self.path = path
        self._reader: aiosqlite.Connection | None = None
        self._writer: aiosqlite.Connection | None = None
        # One user of the writer at a time: a statement sent by one coroutine while
        # another's transaction is open on the same connection would land inside it.
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        folder = Path(self.path).resolve().parent
        if not folder.is_dir():
            # Checked up front: a failed aiosqlite connect leaves its thread behind.
            raise OriginUnavailable(
                f"DATABASE_URL=sqlite:///{self.path}: folder {folder} does not exist"
            )
        try:
            self._reader = await self._connect()
            self._writer = await self._connect()
        except Exception as exc:
            await self.close()
            raise OriginUnavailable(f"DATABASE_URL=sqlite:///{self.path}: {exc}") from None

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=10000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "origin not opened"
        return self._reader

    @property
    def writer(self) -> aiosqlite.Connection:
        assert self._writer is not None, "origin not opened"
        return self._writer

    async def get_product(self, product_id: int, *, primary: bool = False) -> Product | None:
        rows = await self.reader.execute_fetchall(
            f"SELECT {COLUMNS} FROM products WHERE id = ?", (product_id,)
        )
        await self._delay()  # a slow read answers with what it saw when it began
        return dict(rows[0]) if rows else None

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> Product | None:
        await self._delay()
        async with self._write_lock:
            return await self._update(product_id, changes)

    async def update_product_and(
        self,
        product_id: int,
        changes: dict[str, Any],
        also: Callable[[aiosqlite.Connection, Product], Awaitable[T]],
    ) -> tuple[Product, T] | None:
        """`update_product`, and `also(connection, row)` in the same transaction, so the
        caller's own statement (the outbox's INSERT) commits or rolls back with the row."""
        await self._delay()  # before the transaction: a slow query must not hold the lock
        async with self.transaction() as conn:
            row = await self._update(product_id, changes)
            return None if row is None else (row, await also(conn, row))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer inside BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error.

        IMMEDIATE takes the file's write lock up front, so the transaction never fails
        half-way on a lock another replica's writer holds (busy_timeout waits instead)."""
        async with self._write_lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield self.writer
            except BaseException:
                await self.writer.execute("ROLLBACK")
                raise
            await self.writer.execute("COMMIT")

    async def execute_write(self, sql: str, parameters: tuple[Any, ...] = ()) -> None:
        """One statement on the writer, committed on its own: one round trip to the
        connection's thread where a transaction takes three, so the file's write lock,
        which every replica's writes wait for, is held that much shorter."""
        async with self._write_lock:
            await self.writer.execute(sql, parameters)

    async def _update(self, product_id: int, changes: dict[str, Any]) -> Product | None:
        """The UPDATE itself, on the writer; the caller holds the write lock."""
        rows = await self.writer.execute_fetchall(
            "UPDATE products SET name = COALESCE(?, name), price = COALESCE(?, price),"
            " version = version + 1, updated_at = ? WHERE id = ?"
            f" RETURNING {COLUMNS}",
            (changes.get("name"), changes.get("price"), now_iso(), product_id),
        )
        return dict(rows[0]) if rows else None

    async def list_category(self, category: str, *, primary: bool = False) -> list[Product]:
        rows = await self.reader.execute_fetchall(
            f"SELECT {COLUMNS} FROM products WHERE category = ? ORDER BY id", (category,)
        )
        await self._delay()
        return [dict(row) for row in rows]

    async def category_of(self, product_id: int, *, primary: bool = False) -> str | None:
        await self._delay()
        rows = await self.reader.execute_fetchall(
            "SELECT category FROM products WHERE id = ?", (product_id,)
        )
        return rows[0][0] if rows else None

    async def create_schema(self) -> None:
        await self.writer.execute(
            "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " price REAL NOT NULL, category TEXT NOT NULL, version INTEGER NOT NULL,"
            " updated_at TEXT NOT NULL)"
        )
        await self.writer.execute(
            "CREATE INDEX IF NOT EXISTS products_category ON products (category, id)"
        )

    async def insert_products(self, rows: list[Product]) -> int:
        async with self.transaction() as writer:
            before = writer.total_changes
            await writer.executemany(
                f"INSERT INTO products ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                [tuple(row[c] for c in COLUMNS.split(", ")) for row in rows],
            )
            return writer.total_changes - before

    async def ping(self) -> None:
        await self.reader.execute_fetchall("SELECT count(*) FROM products")

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None


class PostgresOrigin(_Delayed):
    def __init__(self, url: str, delay_ms: float = 0.0) -> None:
        super().__init__(delay_ms)
        self.url = url
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=10, timeout=5)
        except Exception as exc:
            raise OriginUnavailable(f"DATABASE_URL={self.url}: {exc}") from None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "origin not opened"
        return self._pool

    @staticmethod
    def _product(record: asyncpg.Record | None) -> Product | None:
        if record is None:
            return None
        product = dict(record)
        product["updated_at"] = product["updated_at"].isoformat(timespec="microseconds")
        return product

    async def get_product(self, product_id: int, *, primary: bool = False) -> Product | None:
        record = await self.pool.fetchrow(
            f"SELECT {COLUMNS} FROM products WHERE id = $1", product_id
        )
        await self._delay()  # a slow read answers with what it saw when it began
        return self._product(record)

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> Product | None:
        await self._delay()
        return await self._update(self.pool, product_id, changes)

    async def update_product_and(
        self,
        product_id: int,
        changes: dict[str, Any],
        also: Callable[[asyncpg.Connection, Product], Awaitable[T]],
    ) -> tuple[Product, T] | None:
        """`update_product`, and `also(connection, row)` in the same transaction, so the
        caller's own statement (the outbox's INSERT) commits or rolls back with the row."""
        await self._delay()
        async with self.transaction() as conn:
            row = await self._update(conn, product_id, changes)
            return None if row is None else (row, await also(conn, row))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pool connection inside a transaction: COMMIT on exit, ROLLBACK on error."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def _update(
        self, on: asyncpg.Pool | asyncpg.Connection, product_id: int, changes: dict[str, Any]
    ) -> Product | None:
        record = await on.fetchrow(
            "UPDATE products SET name = COALESCE($1, name), price = COALESCE($2, price),"
            " version = version + 1, updated_at = clock_timestamp() WHERE id = $3"
            f" RETURNING {COLUMNS}",
            changes.get("name"),
            changes.get("price"),
            product_id,
        )
        return self._product(record)

    async def list_category(self, category: str, *, primary: bool = False) -> list[Product]:
        records = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM products WHERE category = $1 ORDER BY id", category
        )
        await self._delay()
        return [p for p in map(self._product, records) if p is not None]

    async def category_of(self, product_id: int, *, primary: bool = False) -> str | None:
        await self._delay()
        return await self.pool.fetchval("SELECT category FROM products WHERE id = $1", product_id)

    async def create_schema(self) -> None:
        await self.pool.execute(
            "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " price DOUBLE PRECISION NOT NULL, category TEXT NOT NULL,"
            " version BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL);"
            " CREATE INDEX IF NOT EXISTS products_category ON products (category, id)"
        )

    async def insert_products(self, rows: list[Product]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = 0
            for row in rows:
                status = await conn.execute(
                    f"INSERT INTO products ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (id) DO NOTHING",
                    row["id"],
                    row["name"],
                    row["price"],
                    row["category"],
                    row["version"],
                    datetime.fromisoformat(row["updated_at"]),
                )
                inserted += int(status.rsplit(" ", 1)[-1])
            return inserted

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT count(*) FROM products")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class ReplicatedOrigin:
    """Writes (and everything but reads) go to the primary; reads go to the read replica,
    which may lag, unless a caller asks for `primary=True`. What production's read
    replicas do, and what puts an old row back in a cache after a write's delete."""

    def __init__(
        self, primary: SqliteOrigin | PostgresOrigin, replica: SqliteOrigin | PostgresOrigin
    ):
        self.primary, self.replica = primary, replica

    def _reader(self, primary: bool) -> SqliteOrigin | PostgresOrigin:
        return self.primary if primary else self.replica

    async def get_product(self, product_id: int, *, primary: bool = False) -> Product | None:
        return await self._reader(primary).get_product(product_id)

    async def list_category(self, category: str, *, primary: bool = False) -> list[Product]:
        return await self._reader(primary).list_category(category)

    async def category_of(self, product_id: int, *, primary: bool = False) -> str | None:
        return await self._reader(primary).category_of(product_id)

    def slow_down(self, extra_ms: float) -> None:
        self.primary.slow_down(extra_ms)
        self.replica.slow_down(extra_ms)

    async def ping(self) -> None:
        await self.primary.ping()
        await self.replica.ping()

    async def close(self) -> None:
        await self.replica.close()
        await self.primary.close()

    def __getattr__(self, name: str) -> Any:
        """Writes, transactions, the schema and seeding: the primary's."""
        return getattr(self.primary, name)


async def _open_one(url: str, delay_ms: float, variable: str) -> SqliteOrigin | PostgresOrigin:
    origin: SqliteOrigin | PostgresOrigin
    if url.startswith("sqlite:///"):
        origin = SqliteOrigin(url.removeprefix("sqlite:///"), delay_ms)
    elif url.startswith(("postgresql://", "postgres://")):
        origin = PostgresOrigin(url, delay_ms)
    else:
        raise OriginUnavailable(f"{variable}={url!r}: must start with sqlite:/// or postgresql://")
    await origin.open()
    return origin


async def open_origin(
    database_url: str, delay_ms: float = 0.0, read_url: str | None = None
) -> SqliteOrigin | PostgresOrigin | ReplicatedOrigin:
    """Open the origin named by DATABASE_URL, and its read replica when DATABASE_READ_URL
    names one; raise OriginUnavailable with one line."""
    primary = await _open_one(database_url, delay_ms, "DATABASE_URL")
    if not read_url:
        return primary
    try:
        replica = await _open_one(read_url, delay_ms, "DATABASE_READ_URL")
    except OriginUnavailable as exc:
        await primary.close()
        raise OriginUnavailable(
            str(exc).replace("DATABASE_URL=", "DATABASE_READ_URL=", 1)
        ) from None
    return ReplicatedOrigin(primary, replica)
