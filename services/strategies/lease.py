"""`lease`: Memcache-style lease tokens (Nishtala et al., NSDI 2013) in Redis.

Cache-aside with `delete`'s write path, but a reader that misses may fill the key only
while it holds the key's lease: it takes a token atomically (`SET lease:K T NX PX`), and
the fill (a Lua script) stores the value only if the lease still holds that token. A
write deletes the keys and their leases, so a slow reader that fetched the old row
before the write and fills after it finds its token gone: the guide's read/write race
is closed without retiring a whole group, as `versioned` does.

A reader that misses while another holds the lease waits and reads Redis again: the
holder's fill lands within one origin read, so this answers from the cache and sends
one origin read per key per burst of misses, not one per reader (the herd capped). The
wait is bounded by HOT_MISS_TRIES, sized to outlast a slow origin read (the stampede
scenario's 50 ms four times over): a shorter one (it was 40 ms) let waiters give up
before the fill and herd anyway, 7 readers at once where 1 was due. If the fill has
not come by then, it reads the origin without filling: never a stuck reader. With
Redis down it fails open like the others: no lease, no fill, the origin answers.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from services.strategies.base import Deps, Served
from services.strategies.delete import DeleteStrategy

LEASE_MS = 2000  # a holder that died frees the key after this
HOT_MISS_WAIT_S = 0.005  # between re-reads of a key another reader is filling
HOT_MISS_TRIES = 40  # then read the origin without filling: ~200 ms waited, at most
# KEYS: the key, its lease, and optionally a mark to set beside the value (`swr`'s
# freshness). ARGV: the token, the value, its TTL in ms, and the mark's TTL in ms.
FILL_IF_LEASED = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  if KEYS[3] then redis.call('SET', KEYS[3], '1', 'PX', ARGV[4]) end
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


def lease_key(key: str) -> str:
    return f"lease:{key}"


class LeaseStrategy(DeleteStrategy):
    name: ClassVar[str] = "lease"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self._fill = self.cache.redis.register_script(FILL_IF_LEASED)

    async def read_through(
        self, key: str | None, load: Callable[[], Awaitable[Any]]
    ) -> Served | None:
        if key is None:
            return await super().read_through(key, load)
        token = None
        for _ in range(HOT_MISS_TRIES + 1):
            served = await self.from_redis(key)
            if served is not None:
                return served
            token = os.urandom(8).hex()
            taken = self.cache.redis.set(lease_key(key), token, nx=True, px=LEASE_MS)
            leased = await self.cache.call("SET NX lease", taken, None)
            if leased or self.cache.down:  # ours, or Redis is away: read the origin now
                break
            token = None  # another reader is filling it: read Redis again shortly
            await asyncio.sleep(HOT_MISS_WAIT_S)
        body = await self.from_origin(load)
        if body is not None and token is not None and not self.cache.down:
            await self.cache.call("fill", self.fill(key, token, body), None)
        return None if body is None else Served(body, "miss")

    async def fill(self, key: str, token: str, body: bytes) -> None:
        """Store `body` under `key` if the lease still holds `token`, and free the lease."""
        ttl_ms = int(self.ttl_s * 1000)
        await self._fill(keys=[key, lease_key(key)], args=[token, body, ttl_ms])

    def keys_to_drop(self, product_id: int, category: str) -> list[str]:
        """`delete`'s keys and their leases: a fill of what was read before the write is
        refused."""
        keys = super().keys_to_drop(product_id, category)
        return [*keys, *map(lease_key, keys)]
