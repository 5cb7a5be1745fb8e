"""`versioned`: keys carry their category's version; a write INCRs it.

Rule 3 of the guide: one INCR retires every key of the group (the product and
its list) at once, and the retired keys simply age out with their TTL. It also
closes the read/write race: a slow reader that fills after the write fills a
key under the old version, which nobody reads any more.

The version counter itself has no TTL: it is the invalidation state, not a
cached value. Should it vanish anyway (eviction), it restarts from the clock in
milliseconds rather than from 1, so it cannot walk back onto old keys.
"""

import time
from typing import Any, ClassVar

from services.strategies.base import CacheAside, Deps, Served, encode


def version_key(category: str) -> str:
    return f"catalog:{category}:version"


class VersionedStrategy(CacheAside):
    name: ClassVar[str] = "versioned"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        # A product never changes category (PATCH takes name and price only), so
        # the mapping is a fact, not a cached value, and needs no invalidation.
        self._categories: dict[int, str] = {}

    async def _category(self, product_id: int) -> str | None:
        category = self._categories.get(product_id)
        if category is None:
            category = await self.origin.category_of(product_id)
            if category is not None:
                self._categories[product_id] = category
        return category

    async def _group_version(self, category: str) -> bytes | None:
        """The category's current version, created if missing; None if Redis is down."""
        key = version_key(category)
        version = await self.cache.get(key)
        if version is None:
            created = self.cache.redis.set(key, time.time_ns() // 1_000_000, nx=True)
            await self.cache.call("SET NX", created, None)
            version = await self.cache.get(key)
        return version

    async def _key(self, category: str, suffix: str) -> str | None:
        version = await self._group_version(category)
        return None if version is None else f"catalog:{category}:v{version.decode()}:{suffix}"

    async def get_product(self, product_id: int) -> Served | None:
        category = await self._category(product_id)
        if category is None:
            return None
        key = await self._key(category, f"product:{product_id}")
        return await self.read_through(key, lambda: self.origin.get_product(product_id))

    async def list_category(self, category: str) -> Served:
        key = await self._key(category, "list")
        served = await self.read_through(key, lambda: self.load_list(category))
        assert served is not None
        return served

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        self._categories[product_id] = row["category"]
        await self._group_version(row["category"])  # INCR must not start a lost counter at 1
        await self.cache.call("INCR", self.cache.redis.incr(version_key(row["category"])), None)
        self.metrics.invalidations_sent.inc()
        return encode(row)
