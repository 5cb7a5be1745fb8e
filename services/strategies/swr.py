"""`swr`: stale-while-revalidate (the idea of RFC 5861) in Redis.

A cached value has two lifetimes. For the TTL after its fill it is fresh, a plain hit.
For SWR_WINDOW after that it is stale: a reader gets it at once, marked `X-Cache:
stale`, and one background refresh per key reloads it from the origin. Past both the
key is gone and a read is a miss. So a hot key's expiry costs its readers nothing: the
herd that `delete` sends to the origin when the TTL runs out does not form, and the one
refresh runs beside the readers, not in front of them.

The price is paid on purpose, and counted apart: a `stale` answer is past the freshness
the TTL promised. Writes still delete (the value, its freshness mark and its lease), so
a value served stale was not overwritten by any write whose invalidation arrived: it is
old by the cache's clock, and old in content only where an invalidation was lost, as
for `delete`. The analysis reports `stale` answers as `stale_by_design_ratio`, apart
from reads whose content was old.

Built on `lease`: the refresh holds the key's lease, so there is one per key across all
replicas; a write between the refresh's origin read and its fill deletes the lease and
the fill is refused (the race `delete` leaves open); and a miss, after a write or past
the hard expiry, is coalesced as in `lease`, so that herd is capped too.

Keys: the value stays a plain string holding the body served as is, with a TTL of
TTL + SWR_WINDOW; `swr:fresh:K`, with the TTL alone, marks it fresh. One script answers a
read: the body, whether it is fresh, and if not whether this reader took the lease.
"""

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from services.strategies.base import Deps, Served, encode
from services.strategies.delete import DeleteStrategy
from services.strategies.lease import LEASE_MS, LeaseStrategy, lease_key

log = logging.getLogger(__name__)

FRESH, STALE, STALE_AND_MINE = 0, 1, 2  # what the lookup found; MINE: this reader refreshes
# KEYS: the key, its freshness mark, its lease. ARGV: a token, the lease's length in ms.
LOOKUP = """
local body = redis.call('GET', KEYS[1])
if not body then return nil end
if redis.call('EXISTS', KEYS[2]) == 1 then return {body, 0} end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {body, 2} end
return {body, 1}
"""


def fresh_key(key: str) -> str:
    return f"swr:fresh:{key}"


class SwrStrategy(LeaseStrategy):
    name: ClassVar[str] = "swr"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        window = deps.settings.options["window"]
        self.window_s = self.ttl_s if window is None else window
        self._lookup = self.cache.redis.register_script(LOOKUP)
        self._refreshes: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in self._refreshes:
            task.cancel()
        await asyncio.gather(*self._refreshes, return_exceptions=True)

    def health(self) -> dict[str, Any]:
        return {"swr_window_s": self.window_s, "refreshing": len(self._refreshes)}

    async def read_through(
        self, key: str | None, load: Callable[[], Awaitable[Any]]
    ) -> Served | None:
        if key is None:  # Redis is away: the origin answers, nothing is filled
            return await super().read_through(key, load)
        token = os.urandom(8).hex()
        lookup = self._lookup(keys=[key, fresh_key(key), lease_key(key)], args=[token, LEASE_MS])
        found = await self.cache.call("swr GET", lookup, None)
        if found is None:  # absent (or Redis failed): `lease`'s coalesced miss
            return await super().read_through(key, load)
        body, state = bytes(found[0]), int(found[1])
        self.metrics.hits["redis"].inc()
        if state == FRESH:
            return Served(body, "redis")
        if state == STALE_AND_MINE:
            task = asyncio.create_task(self._refresh(key, token, load), name=f"swr {key}")
            self._refreshes.add(task)
            task.add_done_callback(self._refreshes.discard)
        return Served(body, "stale")

    async def _refresh(self, key: str, token: str, load: Callable[[], Awaitable[Any]]) -> None:
        """Reload `key` under the lease `token`. A failure leaves the lease to run out
        (LEASE_MS); a stale reader after that takes it and tries again."""
        self.metrics.origin_reads.inc()
        try:
            value = await load()
        except Exception as exc:  # the origin failed: readers keep the stale value
            log.warning("swr refresh of %s failed: %s", key, exc)
            return
        if value is not None:
            await self.cache.call("swr refill", self.fill(key, token, encode(value)), None)

    async def fill(self, key: str, token: str, body: bytes) -> None:
        """The value for TTL + window and its freshness mark for the TTL, if the lease
        still holds `token` (no write came since it was taken)."""
        soft_ms = int(self.ttl_s * 1000)
        hard_ms = soft_ms + int(self.window_s * 1000)
        keys = [key, lease_key(key), fresh_key(key)]
        await self._fill(keys=keys, args=[token, body, hard_ms, soft_ms])  # lease's script

    def keys_to_drop(self, product_id: int, category: str) -> list[str]:
        """`lease`'s keys (values and leases), and the values' freshness marks."""
        values = DeleteStrategy.keys_to_drop(self, product_id, category)
        return [*super().keys_to_drop(product_id, category), *map(fresh_key, values)]
