"""`double-delete`: the "delayed double delete" many teams run against read replicas.

A write deletes the product's keys (its own and its category list) before it commits,
commits, and answers; DOUBLE_DELETE_DELAY_MS later a background task deletes the same
keys again. The first delete empties the cache for the write; the second removes what a
reader put back in between: a row read from a read replica that had not yet applied the
write (its lag), or one read before the commit and filled after it (the read/write race
`delete` leaves open). A stale refill therefore lives at most the delay, plus the
replica's lag if the replica is still behind when the second delete comes (then the
next miss re-caches the old row until the TTL: the delay must outlast the lag).

Nothing is closed, only bounded: between the first delete and the commit a reader may
fill the old row, and it stays until the second delete. There is no delete right after
the commit, as the pattern has it; with an origin that does not lag, a write's own next
read is still fresh (the key went before the commit and nobody refilled it).

Neither delete is written to the invalidation log: a replica turns fresh when the commit
lands (the first delete having emptied the key) or, after a stale refill, at the second
delete, and neither moment is a DEL the white-box analysis could pair with the probe's
bracket (it paired the first and counted a third of the rows as instrument faults). So
`double-delete` has no white-box times, as `versioned` has none.

The second delete runs in this replica's event loop; the write does not wait for it.
Each pending one is tracked, and `stop` cancels and awaits them, so no task outlives
the replica (a stopped replica's pending second deletes are lost: what they would have
removed lives until its TTL). A product's category never changes (PATCH takes name and
price), so it is looked up on the primary once per product and kept.
"""

import asyncio
from typing import Any, ClassVar

from services.strategies.base import Deps, encode
from services.strategies.delete import DeleteStrategy


class DoubleDeleteStrategy(DeleteStrategy):
    name: ClassVar[str] = "double-delete"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.delay_ms: int = deps.settings.options["delay-ms"]
        self.delay_s = self.delay_ms / 1000
        self._categories: dict[int, str] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    def health(self) -> dict[str, Any]:
        return {"double_delete_delay_ms": self.delay_ms, "second_deletes": len(self._pending)}

    async def _category(self, product_id: int) -> str | None:
        category = self._categories.get(product_id)
        if category is None:
            category = await self.origin.category_of(product_id, primary=True)
            if category is not None:
                self._categories[product_id] = category
        return category

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        category = await self._category(product_id)
        if category is None:  # no such product: nothing to write, nothing to drop
            return None
        keys = self.keys_to_drop(product_id, category)
        await self.cache.delete(*keys, logged=False)  # the first delete, before the commit
        self.metrics.invalidations_sent.inc()
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        task = asyncio.create_task(self._delete_later(keys), name=f"double-delete {keys[0]}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return encode(row)

    async def _delete_later(self, keys: list[str]) -> None:
        """The second delete, DOUBLE_DELETE_DELAY_MS after the commit (fails open: a
        Redis error is counted by `Cache.call`, never raised)."""
        await asyncio.sleep(self.delay_s)
        await self.cache.delete(*keys, logged=False)
        self.metrics.invalidations_sent.inc()
