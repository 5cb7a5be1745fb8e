"""`partial`: the guide's step 2 taken literally: a write deletes `product:{id}` only.

It exists to fall into the partial-key gotcha on purpose: a category list embeds the
product, nobody drops the list, and it stays stale until its TTL. Beside `delete`,
which drops both, it shows what the guide warns of ("invalidate every key that
contains the data") with numbers, under the `lists` scenario.
"""

from typing import Any, ClassVar

from services.strategies.base import CacheAside, encode, product_key


class PartialStrategy(CacheAside):
    name: ClassVar[str] = "partial"

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        await self.cache.delete(product_key(product_id))  # and not the list: the gotcha
        self.metrics.invalidations_sent.inc()
        return encode(row)
