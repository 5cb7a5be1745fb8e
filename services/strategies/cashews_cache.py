"""`cashews` and `cashews-lock`: cashews 7.6.0's `@cache(ttl=...)` on the reads, its tags
to invalidate on write.

Followed, from the README in the 7.6.0 wheel (cashews-7.6.0.dist-info/METADATA):
"Configuration" (`cache.setup("redis://...")`; an instance of our own, `cashews.Cache()`,
public like the module-global `cache`, so two apps in one process do not share one),
"Simple cache" (`@cache(ttl=..., key=...)` with readable key templates), "Locked"
(`lock=True`) and "Cache invalidation": the README shows `@cache.invalidate(pattern)`,
then names its two problems (a SCAN of the whole database for a pattern; keys one does
not spell out) and recommends tags, so each read is tagged with its own key's name and a
write calls `cache.delete_tags(...)`. The product's list is known only from the written
row, which a template over the write's arguments cannot name: tags need no template.

What the library does, at its defaults (site-packages/cashews):
- Errors are suppressed (`suppress=True`): a failed command is logged and answers None,
  so a read misses and goes to the origin, a write's DEL is lost silently
  (backends/redis/client.py:49-65). `socket_timeout=1` s, a pool of at most 10
  connections that a caller waits up to 10 s for (backends/redis/backend.py:62-78).
- Every decorated call runs in a task that concurrent callers in the same process share
  (`protected=True`, decorators/locked.py:88-105; wrapper/decorators.py:53-70).
- A tagged fill is two round trips, SET then SADD to the tag's set
  (wrapper/tags.py:103-115); a write SPOPs the set and UNLINKs what it held
  (wrapper/tags.py:89-101). A write between a fill's SET and its SADD deletes nothing.
  Worse, after its UNLINK the write's on-remove callback SREMs the keys from their tags
  (backends/redis/backend.py:208-218, wrapper/tags.py:72-77): a fill that SETs and SADDs
  in between stays in Redis outside its tag, no later write finds it, and it is served
  stale until its TTL. Under `update_heavy` (2 replicas, 15 s) that gave 5.6% stale
  reads, p50 4.6 s and up to 10.3 s old, against `delete`'s 0.04% (tests/test_cashews.py
  builds it on purpose).
  A write while Redis hangs loses more than its DEL: its SPOP times out (suppressed, an
  empty set to delete: backends/redis/backend.py:396-399), Redis runs the buffered SPOP
  when it resumes, and the key, orphaned from its tag, is missed by every later write
  too: stale until its TTL (tests/test_cashews.py). Each tag costs a write one 1 s
  timeout then.
- `lock=True` takes a Redis lock around the whole decorated call, hits included, for up
  to the TTL, and waiters spin on SET NX with a PING each turn and no pause
  (`check_interval=0`) (wrapper/decorators.py:61-68, backends/interface.py:150-176).
  The lock is not a lease: the fill is not checked against a write's delete.
What it does not do: invalidate on a write by itself; guard a fill that read the row
before a write (the race `delete` leaves open).

Measured (2 replicas, local runtime; tests/test_cashews.py): under `read_mostly` no stale
read, as `delete`; `lock=True` costs read p50 9.9 ms against 3.1 ms (every hit takes and
gives back a Redis lock). Under `race`, cashews-lock 321 stale reads from the cache
(15.3%), `delete` 276, `lease` 0. Redis paused 3 s (update_heavy): 0 errors, reads fall
back to the origin after the 1 s timeouts (read max ~2.1 s; cashews-lock p99 4.3 s, max
7.0 s: SET NX, PING, GET, SET and unlock each wait their second). Redis killed: 0 errors,
misses to the origin. Its own `Cache`, not the module-global one: two apps in one process
do not share state.
"""

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from cashews import Cache

from services.strategies.base import Deps
from services.strategies.library import LibraryStrategy

PRODUCT_TAG = "product:{product_id}"  # = base.product_key, so the log's keys are its tags
LIST_TAG = "category:{category}:products"  # = base.list_key


class CashewsStrategy(LibraryStrategy):
    name: ClassVar[str] = "cashews"
    lock: ClassVar[bool] = False

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.ttl_s = deps.settings.cache_ttl
        self.redis_url = deps.settings.redis_url
        self.cache = Cache(name=self.name)
        self._product = self.decorate(self.load_product, PRODUCT_TAG)
        self._list = self.decorate(self.load_list, LIST_TAG)

    def decorate(self, load: Callable[..., Any], key: str) -> Callable[..., Any]:
        """`load` behind the library's cache decorator, under `key`, tagged with it."""
        wrapped: Callable[..., Any] = self.cache(
            ttl=self.ttl_s, key=key, tags=[key], lock=self.lock
        )(load)
        return wrapped

    def setup(self) -> None:
        self.cache.setup(self.redis_url)

    async def start(self) -> None:
        self.setup()
        await self.cache.init()

    async def stop(self) -> None:
        await self.cache.close()

    def read_product(self, product_id: int) -> Awaitable[Any]:
        return self._product(product_id=product_id)

    def read_list(self, category: str) -> Awaitable[Any]:
        return self._list(category=category)

    async def drop(self, keys: list[str]) -> None:
        await self.cache.delete_tags(*keys)  # errors suppressed: no way to tell it failed


class CashewsLockStrategy(CashewsStrategy):
    """`cashews` with `@cache(..., lock=True)`: one caller at a time runs the call."""

    name: ClassVar[str] = "cashews-lock"
    lock: ClassVar[bool] = True
