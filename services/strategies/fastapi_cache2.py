"""`fastapi-cache2` and `fastapi-cache2-clear`: fastapi-cache2 0.2.2's `@cache` decorator.

Followed: the README of fastapi-cache2 0.2.2 (PyPI; "Quick Start", "Use the `@cache`
decorator", "Custom key builder", "Backend notes: RedisBackend"), as a team would set it
up: a redis.asyncio client from `from_url(REDIS_URL)` with redis-py's defaults (no socket
timeout), `FastAPICache.init(RedisBackend(redis), prefix="fastapi-cache")`, and
`@cache(expire=TTL)` (whole seconds, rounded up) on a plain function that reads the origin,
called by the product and the list reads. Installed without its `[redis]` extra: that
extra pins `redis<5` and would not coexist with our redis-py 8; the backend works with it.

`fastapi-cache2`: no invalidation on write (the library has none; `ttl`'s behaviour).
Keys are the default key builder's, `fastapi-cache::<md5 of module, name and arguments>`
(the decorated functions are module-level closures, so every replica builds the same key).

`fastapi-cache2-clear`: the workaround the maintainers point to (long2ice/fastapi-cache
#17 "FastAPICache.clear", #298 "use a custom key builder ... delete a key by yourself",
#16): a key builder with readable keys, `fastapi-cache:product:<id>` and
`fastapi-cache:category:<cat>:products`, and on a write `FastAPICache.clear(key=...)` of
the product's key and its category list's. With the README's prefix that call does not
delete the key: `FastAPICache.clear` turns the prefix into a namespace even when only `key`
is given (fastapi_cache/__init__.py:102), and `RedisBackend.clear` prefers the namespace,
running `KEYS fastapi-cache:*` and a DEL of every match (fastapi_cache/backends/redis.py:25-27;
upstream issue #451, fix PR #529 unmerged). So every write empties the whole cache, every
replica's reads included, and blocks Redis for a KEYS over the keyspace.
`--fastapi-cache2-clear-empty-prefix` inits with `prefix=""` instead, the one setting
under which `clear(key=...)` deletes just that key (redis.py:28-29).

What the library does not do: no lock or single flight while a value is computed (every
reader that misses reads the origin: the herd, upstream #419/#203); no version or lease on
a fill, so a fill that read the row before a write lands after the write's clear (the
race `delete` leaves open). A hit is a MULTI/EXEC pipeline of TTL and GET
(backends/redis.py:15-16). No timeout of its own: the README's `from_url` client has
redis-py 8.2's defaults, a 5 s socket timeout (redis/_defaults.py:7; redis-py 4.6, which
the `[redis]` extra pins, has none and would hang). Redis errors on a read's get or fill
are logged with a traceback and the read goes to the origin (decorator.py:177-196): with
Redis killed that is at once, with Redis paused (SIGSTOP) after two timeouts, 10 s a
read. Errors from `clear` are not caught (fastapi_cache/__init__.py:103): a write whose
clear fails answers 500 after its commit, and the old row stays cached until the TTL.

`FastAPICache` is process-global class state: `start` resets and inits it, `stop` resets
it, so tests may create apps one after another; two apps of these strategies running at
once in one process would share (and overwrite) it. The harness runs one process a replica.
"""

import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from fastapi_cache import FastAPICache
from fastapi_cache.backends.redis import RedisBackend
from fastapi_cache.decorator import cache
from redis import asyncio as aioredis

from services.strategies.base import Deps, list_key, product_key
from services.strategies.library import LibraryStrategy

README_PREFIX = "fastapi-cache"


def expire_seconds(ttl_s: float) -> int:
    """`@cache(expire=...)` takes whole seconds: the TTL rounded up, at least 1."""
    return max(1, math.ceil(ttl_s))


def readable_key_builder(
    func: Callable[..., Any],
    namespace: str = "",
    *,
    request: Any = None,
    response: Any = None,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
) -> str:
    """`<prefix>:product:<id>` or `<prefix>:category:<cat>:products`: our own key names
    under the library's prefix (the decorator passes `"<prefix>:<namespace>"`, namespace
    empty here), so a write can name them."""
    prefix = namespace.rstrip(":")
    key = product_key(args[0]) if func.__name__ == "product" else list_key(args[0])
    return f"{prefix}:{key}" if prefix else key


class FastapiCache2Strategy(LibraryStrategy):
    name: ClassVar[str] = "fastapi-cache2"
    invalidates: ClassVar[bool] = False
    key_builder: ClassVar[Callable[..., Any] | None] = None  # the library's default

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.settings = deps.settings
        self.expire = expire_seconds(deps.settings.cache_ttl)
        self.prefix = README_PREFIX
        self.redis: aioredis.Redis | None = None
        strategy = self

        # plain functions, not methods: the default key is built from the arguments'
        # repr, which a `self` would make differ between replicas
        @cache(expire=self.expire, key_builder=self.key_builder)
        async def product(product_id: int) -> Any:
            return await strategy.load_product(product_id)

        @cache(expire=self.expire, key_builder=self.key_builder)
        async def category(category: str) -> Any:
            return await strategy.load_list(category)

        self._product: Callable[[int], Awaitable[Any]] = product
        self._category: Callable[[str], Awaitable[Any]] = category

    async def start(self) -> None:
        self.redis = aioredis.from_url(self.settings.redis_url)
        FastAPICache.reset()
        FastAPICache.init(RedisBackend(self.redis), prefix=self.prefix)

    async def stop(self) -> None:
        FastAPICache.reset()
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    def health(self) -> dict[str, Any]:
        return {"library": "fastapi-cache2", "expire_s": self.expire, "prefix": self.prefix}

    def read_product(self, product_id: int) -> Awaitable[Any]:
        return self._product(product_id)

    def read_list(self, category: str) -> Awaitable[Any]:
        return self._category(category)


class FastapiCache2ClearStrategy(FastapiCache2Strategy):
    name: ClassVar[str] = "fastapi-cache2-clear"
    invalidates: ClassVar[bool] = True
    key_builder: ClassVar[Callable[..., Any] | None] = staticmethod(readable_key_builder)

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.prefix = "" if deps.settings.options["empty-prefix"] else README_PREFIX

    async def drop(self, keys: list[str]) -> None:
        for key in keys:
            await FastAPICache.clear(key=f"{self.prefix}:{key}" if self.prefix else key)
