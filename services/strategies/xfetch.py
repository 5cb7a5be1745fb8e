"""`xfetch`: probabilistic early recomputation (Vattani, Chierichetti, Lowenstein,
"Optimal Probabilistic Cache Stampede Prevention", VLDB 2015).

Cache-aside with `delete`'s write path, but a hit may refresh the key before it expires:
a reader recomputes (reads the origin, refills the key with a full TTL, answers with the
fresh value as a miss) when

    now - delta * beta * ln(random()) >= expiry

where `delta` is how long the last recomputation took and `beta` is XFETCH_BETA. As
the key nears its expiry the chance grows, and the slower the recomputation the earlier
it starts, so one reader usually refills a hot key while the others still hit it: the
herd at expiry does not form. `now` and `expiry` are never compared across clocks: the
remaining time is the key's PTTL, read from Redis.

Where delta lives: in a key of its own, `xfetch:delta:{K}`, set with the same TTL in the
same MULTI as the value. The value's key stays a plain string holding the body the app
serves as is, so everything that GETs it (the other strategies' tests, the harness)
reads it unchanged. A hit is one round trip: a Lua script returns the body and the
verdict, having read PTTL and delta beside it and, with XFETCH_LOCK, taken the refresh
lock; the random draw comes from the replica as an argument. The `{K}` hash tag keeps
the value, its delta and its lock in one cluster slot, as a script needs.

The paper bounds the herd in expectation only: readers of a very hot key may draw a
refresh at the same moment. With XFETCH_LOCK a reader that draws one must also take
`xfetch:lock:{K}` (SET NX PX, a few deltas and at least 100 ms); the others keep
serving the cached value. A key that is absent still goes to the origin without a lock,
as in `delete`. A write drops the keys and their deltas (a delta left behind would be
harmless, a missing one means "never early"). Left open, as in `delete`: a refresh that
read the origin before a write and fills after its delete re-caches the old row.
"""

import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from services.strategies.base import Deps, Served
from services.strategies.delete import DeleteStrategy

LOCK_DELTAS = 4  # the refresh lock outlasts a few recomputations
MIN_LOCK_MS = 100
# KEYS: the key, its delta, its lock. ARGV: beta * -ln(u) for the reader's draw u, 1 to
# refresh only under the lock, the lock's floor in ms, its length in deltas.
# Returns nil on a miss, else {body, 1 if this reader refreshes now, else 0}.
HIT_OR_REFRESH = """
local body = redis.call('GET', KEYS[1])
if not body then return nil end
local ttl = redis.call('PTTL', KEYS[1])
local delta = tonumber(redis.call('GET', KEYS[2]) or '') or 0
local refresh = 0
if ttl >= 0 and delta > 0 and delta * tonumber(ARGV[1]) >= ttl then
  refresh = 1
  if ARGV[2] == '1' then
    local hold = math.max(tonumber(ARGV[3]), math.ceil(delta * tonumber(ARGV[4])))
    if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', hold) then refresh = 0 end
  end
end
return {body, refresh}
"""


def delta_key(key: str) -> str:
    return f"xfetch:delta:{{{key}}}"


def lock_key(key: str) -> str:
    return f"xfetch:lock:{{{key}}}"


class XFetchStrategy(DeleteStrategy):
    name: ClassVar[str] = "xfetch"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.beta = deps.settings.options["beta"]
        self.lock = deps.settings.options["lock"]
        self._hit_or_refresh = self.cache.redis.register_script(HIT_OR_REFRESH)

    def health(self) -> dict[str, Any]:
        return {"xfetch_beta": self.beta, "xfetch_lock": self.lock}

    async def read_through(
        self, key: str | None, load: Callable[[], Awaitable[Any]]
    ) -> Served | None:
        if key is None:  # Redis is away: the origin answers, nothing is filled
            return await super().read_through(key, load)
        found = await self.cache.call("xfetch GET", self._lookup(key), None)
        if found is not None:
            body, refresh = found
            if not refresh:
                self.metrics.hits["redis"].inc()
                return Served(body, "redis")
        # absent (or Redis failed the lookup), or this reader refreshes early
        started = time.perf_counter()
        body = await self.from_origin(load)
        delta_ms = (time.perf_counter() - started) * 1000
        if body is None:
            return None
        if not self.cache.down:
            await self.cache.call("xfetch fill", self._fill(key, body, delta_ms), None)
        return Served(body, "miss")

    async def _lookup(self, key: str) -> tuple[bytes, bool] | None:
        """One round trip: the body, and whether this reader recomputes it now."""
        draw = min(self.beta * -math.log(1.0 - random.random()), 1e300)  # u in (0, 1]
        answer = await self._hit_or_refresh(
            keys=[key, delta_key(key), lock_key(key)],
            args=[repr(draw), "1" if self.lock else "0", MIN_LOCK_MS, LOCK_DELTAS],
        )
        if answer is None:
            return None
        body, refresh = answer
        return bytes(body), bool(refresh)

    async def _fill(self, key: str, body: bytes, delta_ms: float) -> None:
        """The value and its delta with one TTL, atomically (one MULTI); the refresh lock,
        if taken, is given back with them."""
        ttl_ms = int(self.ttl_s * 1000)
        async with self.cache.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, body, px=ttl_ms)
            pipe.set(delta_key(key), repr(delta_ms), px=ttl_ms)
            if self.lock:
                pipe.delete(lock_key(key))
            await pipe.execute()

    def keys_to_drop(self, product_id: int, category: str) -> list[str]:
        """`delete`'s keys, and their deltas with them."""
        keys = super().keys_to_drop(product_id, category)
        return [*keys, *map(delta_key, keys)]
