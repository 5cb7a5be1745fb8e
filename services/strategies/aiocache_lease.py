"""`aiocache-lease`: aiocache 0.12.3's `cached_stampede` on the reads, its `delete` on write.

What a team gets from aiocache's README ("Or as a decorator": `@cached(ttl=..., cache=
Cache.REDIS, key=..., port=..., namespace=...)`, then `Cache(Cache.REDIS, ...).delete(key)`)
with the decorator its API reference offers against stampedes (`aiocache.cached_stampede`,
decorators.py docstring; the `RedLock` docstring in lock.py). Each read is decorated with
`cached_stampede(ttl=CACHE_TTL, lease=AIOCACHE_LEASE, cache=Cache.REDIS, endpoint=, port=,
db=)` from REDIS_URL, a `key_builder` that gives our readable keys (`product:<id>`,
`category:<c>:products`), and the documented `skip_cache_func=lambda r: r is None` so an
absent product is not cached. Everything else is the library's default: RedisCache's
JsonSerializer, its 5 s per-operation timeout (base.py:112), and a redis-py pool with no
connect timeout (backends/redis.py:80) and redis-py 8.2's 5 s socket timeout. A write
deletes both keys through the decorated functions' own cache (`wrapper.cache.delete(key)`,
the README's invalidation). Its `close` calls redis-py's deprecated `close`
(backends/redis.py:191): a DeprecationWarning at every stop.

How the lease works (decorators.py:215-234, lock.py:74-96): a miss takes `<key>-lock` with
SET NX and the lease as its TTL, re-reads, loads and fills; a reader that finds the lock
taken waits on an `asyncio.Event` kept in a class-level dict (`RedLock._EVENTS`,
lock.py:63) for at most the lease, then re-reads and, on a miss, loads the origin itself
without the lock. What it does not do:
- cap a herd across processes: the Event lives in the holder's process, so a waiter in
  another replica finds no entry (KeyError, lock.py:84,87) and goes to the origin at
  once; only readers in the holder's process wait;
- outlast a slow load: when the lease ends first, every waiter passes (lock.py:22-23,
  aiocache PR #235) and a new reader takes the expired lock afresh;
- close the read/write race: no token ties a fill to the lease, so a load that read the
  row before a write fills it after the write's delete, as in our `delete`;
- fail open: a GET that fails is logged and taken as a miss (decorators.py:155-160), but
  the lock's SET NX (`_add`, lock.py:77) and its release script (lock.py:94) call the
  backend directly, outside the 5 s timeout and any error handling. Redis dead: every
  read raises redis-py's ConnectionError at once (a 500), none falls back to the origin;
  a write commits and its delete raises (a 500). Redis paused: a read's GET ends at the
  5 s timeout, the SET NX at redis-py 8.2's default 5 s socket timeout
  (redis/_defaults.py:7), raising: a 500 after 10 s; a write commits, its delete ends at
  5 s (asyncio's TimeoutError, an OSError, which our app answers 503) and is lost: the
  old row stays cached until the TTL;
- release its lock safely: `_release` awaits the release script, then pops whatever
  event the dict holds for the key (lock.py:93-96); a reader that took the lock in that
  await loses its event to the previous holder and its own release raises KeyError, a
  500 (aiocache issue #979; 0 or 1 in a 15 s read_mostly or stampede run of ~4,400
  requests here, 3 or 4 under race).
`RedLock._EVENTS` is process-global and keyed by the Redis key: two apps in one process
over the same keys wait on each other's events (the harness runs one process per
replica); nothing there needs resetting between apps, a stale entry only makes a waiter
wait out its lease.
"""

from collections.abc import Awaitable
from typing import Any, ClassVar
from urllib.parse import urlparse

from aiocache import Cache, cached_stampede

from services.strategies.base import Deps, list_key, product_key
from services.strategies.library import LibraryStrategy


def redis_kwargs(redis_url: str) -> dict[str, Any]:
    """REDIS_URL as RedisCache's own arguments (the ones `Cache.from_url` parses)."""
    url = urlparse(redis_url)
    kwargs: dict[str, Any] = {"endpoint": url.hostname or "127.0.0.1", "port": url.port or 6379}
    if url.path.strip("/"):
        kwargs["db"] = int(url.path.strip("/").split("/")[0])
    if url.password:
        kwargs["password"] = url.password
    return kwargs


class AiocacheLeaseStrategy(LibraryStrategy):
    name: ClassVar[str] = "aiocache-lease"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.lease_s: float = deps.settings.options["lease"]
        common: dict[str, Any] = {
            "ttl": deps.settings.cache_ttl,
            "lease": self.lease_s,
            "cache": Cache.REDIS,
            "skip_cache_func": lambda result: result is None,
            **redis_kwargs(deps.settings.redis_url),
        }
        by_id = cached_stampede(
            key_builder=lambda _f, product_id: product_key(product_id), **common
        )
        by_category = cached_stampede(key_builder=lambda _f, category: list_key(category), **common)
        self._product = by_id(self.load_product)
        self._list = by_category(self.load_list)

    async def stop(self) -> None:
        await self._product.cache.close()
        await self._list.cache.close()

    def health(self) -> dict[str, Any]:
        return {"aiocache_lease_s": self.lease_s}

    def read_product(self, product_id: int) -> Awaitable[Any]:
        return self._product(product_id)

    def read_list(self, category: str) -> Awaitable[Any]:
        return self._list(category)

    async def drop(self, keys: list[str]) -> None:
        product, category_list = keys
        await self._product.cache.delete(product)
        await self._list.cache.delete(category_list)
