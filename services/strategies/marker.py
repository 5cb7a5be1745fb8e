"""`marker`: memcache's remote markers (Nishtala et al., "Scaling Memcache at Facebook",
NSDI 2013, section 5), against a read replica that lags.

A write commits, then in one Lua script sets `marker:K` for MARKER_TTL_MS beside each
key it drops (the product's own and its category list) and deletes the keys. A reader
that misses looks for the key's marker: found, a write happened within the marker's
life and the read replica may not have it yet, so it reads the primary
(`primary=True`) and fills from it; not found, it reads the replica as `delete` does.
So a miss right after a write fills the new row instead of the replica's old one,
which `delete` would keep until the TTL, at the price of sending those misses to the
primary.

The marker must outlast the replica's lag: a miss after it expired reads the replica,
and fills what it finds. Left open, as in `delete` and in the paper: a reader that read
the replica before the marker was set and fills after the delete re-caches the old row.
A hit costs what it costs in `delete` (one GET); a miss one more round trip (EXISTS).
With Redis away it fails open: no marker is found, the replica answers, nothing fills.
"""

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from services.strategies.base import Deps, Served, encode, list_key, product_key
from services.strategies.delete import DeleteStrategy

# KEYS: the keys to drop, then a marker for each, in the same order. ARGV: the markers'
# TTL in ms. Returns how many keys it deleted.
MARK_AND_DELETE = """
local n = #KEYS / 2
for i = n + 1, #KEYS do redis.call('SET', KEYS[i], '1', 'PX', ARGV[1]) end
return redis.call('DEL', unpack(KEYS, 1, n))
"""


def marker_key(key: str) -> str:
    return f"marker:{key}"


class MarkerStrategy(DeleteStrategy):
    name: ClassVar[str] = "marker"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.marker_ms: int = deps.settings.options["ttl-ms"]
        self._mark_and_delete = self.cache.redis.register_script(MARK_AND_DELETE)
        self.primary_reads = 0  # misses this replica sent to the primary

    def health(self) -> dict[str, Any]:
        return {"marker_ttl_ms": self.marker_ms, "primary_reads": self.primary_reads}

    async def get_product(self, product_id: int) -> Served | None:
        return await self._marked_read(
            product_key(product_id),
            lambda primary: self.origin.get_product(product_id, primary=primary),
        )

    async def list_category(self, category: str) -> Served:
        async def load(primary: bool) -> dict[str, Any]:
            items = await self.origin.list_category(category, primary=primary)
            return {"category": category, "items": items}

        served = await self._marked_read(list_key(category), load)
        assert served is not None  # a list is never None, at worst empty
        return served

    async def _marked_read(self, key: str, load: Callable[[bool], Awaitable[Any]]) -> Served | None:
        """Redis first; on a miss the primary if the key is marked, else the replica."""
        served = await self.from_redis(key)
        if served is not None:
            return served
        marked = await self.cache.call("marker EXISTS", self.cache.redis.exists(marker_key(key)), 0)
        if marked:
            self.primary_reads += 1
        body = await self.from_origin(lambda: load(bool(marked)))
        if body is not None and not self.cache.down:
            await self.cache.set(key, body, self.ttl_s)
        return None if body is None else Served(body, "miss")

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        keys = self.keys_to_drop(product_id, row["category"])
        invalidations = self.cache.invalidations
        invalidations.applied("del_sent", keys)
        done = self._mark_and_delete(keys=[*keys, *map(marker_key, keys)], args=[self.marker_ms])
        if await self.cache.call("marker and DEL", done, None) is not None:
            invalidations.applied("del_done", keys)
        self.metrics.invalidations_sent.inc()
        return encode(row)
