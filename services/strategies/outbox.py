"""`outbox`: the invalidation commits with the write; a relay delivers it until Redis took it.

`delete` drops the keys after the commit and fails open: with Redis hung or cut off, the
DEL is lost and the old row is served until the TTL or the key's next write. Here the
write's own transaction also records the keys to drop (`delete`'s `keys_to_drop`) in an
outbox table: the transactional outbox, the idea behind Facebook's mcsqueal and
Debezium, where invalidations come from the origin's commit log, so none is lost with
the process or the link that was to send it.

A relay in every replica takes outbox rows in id order, DELs their keys and deletes the
rows only once Redis took the DEL; on a failure it tries again after RETRY_PAUSE_S, so a
Redis back from a pause or a partition is healed within that. DEL is idempotent, so a
row delivered twice (by two relays, or again after a DEL whose answer was lost) does no
harm: delivery is at least once. The relays of other replicas find rows by NOTIFY on
PostgreSQL, by polling on SQLite (services.outbox_store), so a replica cut off Redis has
its rows delivered by the others.

The write still behaves as `delete`'s: it wakes its own relay and waits, at most
WRITE_WAIT_S, until its row was delivered (by any relay), so the next read on any
replica is fresh. When Redis fails it answers 200 after that wait: the write committed,
and its invalidation is the relay's to deliver.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.metrics import Metrics
from services.outbox_store import Entry, OutboxStore, outbox_store
from services.strategies.base import Deps, encode
from services.strategies.delete import DeleteStrategy

# what `delete`'s DEL can take at worst (the 1 s socket timeout), so a failing Redis
# costs a write no more here than there
WRITE_WAIT_S = 1.0
# short: a Redis back from a pause is healed within it, and that delay is what the
# fault runs measure; a failed try is cheap (one SELECT, one DEL that fails fast or
# times out)
RETRY_PAUSE_S = 0.1
BATCH = 100  # rows per claim: one DEL and one DELETE for up to this many writes
REDIS_ERRORS = (RedisError, OSError, RuntimeError)  # as services.cache counts them
log = logging.getLogger("services.outbox")


class Relay:
    """Delivers outbox rows: the ones its own replica's writes wait for at once, every
    row at each sweep (every `store.poll_s`, at a NOTIFY, after a failure)."""

    def __init__(self, store: OutboxStore, redis: Redis, metrics: Metrics) -> None:
        self.store = store
        self.redis = redis
        self.metrics = metrics
        self._waiting: dict[int, asyncio.Future[None]] = {}  # outbox id -> its write
        self._wake = asyncio.Event()
        self._sweep_asked = True
        self._failing_since: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="outbox-relay"),
            asyncio.create_task(self.store.listen(self.ask_sweep), name="outbox-listen"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = {
            "outbox_relay": "ok" if self._failing_since is None else "retrying",
            "outbox_writes_waiting": len(self._waiting),
        }
        if self.store.listening is not None:
            health["outbox_listening"] = self.store.listening
        return health

    def ask_sweep(self) -> None:
        """Look at every row soon (a NOTIFY came: another replica committed one)."""
        self._sweep_asked = True
        self._wake.set()

    async def delivered(self, outbox_id: int, timeout_s: float) -> bool:
        """Wait until row `outbox_id` (committed) was delivered; False after `timeout_s`."""
        done = asyncio.get_running_loop().create_future()
        self._waiting[outbox_id] = done
        self._wake.set()
        try:
            async with asyncio.timeout(timeout_s):
                await done
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting.pop(outbox_id, None)

    async def _run(self) -> None:
        next_sweep = time.monotonic()
        while True:
            await self._sleep_until(next_sweep)
            self._wake.clear()
            now = time.monotonic()
            sweep = self._sweep_asked or now >= next_sweep
            if sweep:
                self._sweep_asked = False
                next_sweep = now + self.store.poll_s
            try:
                await self._deliver_waiting()
                if sweep:
                    await self._sweep()
            except Exception as exc:  # Redis's, or the origin's: the rows stay, try again
                self._failed(exc)
                await asyncio.sleep(RETRY_PAUSE_S)
                self._sweep_asked = True

    async def _sleep_until(self, deadline: float) -> None:
        """Until a write or a NOTIFY wakes the relay, or the next sweep is due."""
        delay = deadline - time.monotonic()
        if self._wake.is_set() or self._sweep_asked or delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _deliver_waiting(self) -> None:
        """The rows this replica's writes wait for. One not found is gone: another relay
        delivered it (a row is deleted only after its DEL), so its write is answered at
        once, even while this relay's own DELs fail (its Redis link is cut)."""
        ids = sorted(self._waiting)
        if not ids:
            return
        async with self.store.claim_ids(ids) as entries:
            found = {entry.id for entry in entries}
            self._settle([outbox_id for outbox_id in ids if outbox_id not in found])
            await self._drop(entries)

    async def _sweep(self) -> None:
        while True:
            async with self.store.claim(BATCH) as entries:
                await self._drop(entries)
            if len(entries) < BATCH:
                return

    async def _drop(self, entries: list[Entry]) -> None:
        """DEL every key of `entries` in one call; raise if Redis did not take it (the
        claim then keeps the rows). Not `Cache.call`: that fails open, swallowing it.
        Their writes are answered as soon as Redis took it: deleting the rows is only
        bookkeeping, and a row left by a failed delete is delivered again, harmlessly."""
        keys = list(dict.fromkeys(key for entry in entries for key in entry.keys))
        if not keys:
            return
        try:
            await self.redis.delete(*keys)
        except REDIS_ERRORS:
            self.metrics.cache_errors.inc()
            raise
        self._settle([entry.id for entry in entries])
        self.metrics.invalidations_sent.inc(len(entries))
        self._recovered()  # only a DEL Redis took ends an outage, not a pass with none

    def _settle(self, ids: Sequence[int]) -> None:
        for outbox_id in ids:
            waiting = self._waiting.get(outbox_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    def _failed(self, exc: Exception) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning(
                "outbox relay cannot deliver (%s: %s); retrying every %d ms",
                type(exc).__name__,
                exc,
                RETRY_PAUSE_S * 1000,
            )

    def _recovered(self) -> None:
        if self._failing_since is not None:
            took_s = time.monotonic() - self._failing_since
            self._failing_since = None
            log.warning("outbox relay delivers again after %.1f s", took_s)


class OutboxStrategy(DeleteStrategy):
    name: ClassVar[str] = "outbox"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.store = outbox_store(deps.origin)
        self.relay = Relay(self.store, self.cache.redis, self.metrics)

    async def start(self) -> None:
        await self.store.create()
        self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()

    def health(self) -> dict[str, Any]:
        return self.relay.health()

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        written = await self.store.record_update(
            product_id, changes, lambda row: self.keys_to_drop(product_id, row["category"])
        )
        if written is None:
            return None
        row, outbox_id = written
        await self.relay.delivered(outbox_id, WRITE_WAIT_S)
        return encode(row)
