"""`delete`: cache-aside, and the write path deletes every key that embeds the product.

Rule 2 of the guide: the code that mutates also invalidates, after the commit and
before the response. Both the product's key and its category list go (the
partial-key gotcha). Left open on purpose: a read that missed before the write
and fills after the delete re-caches the old row until the TTL (the race gotcha).
"""

from typing import Any, ClassVar

from services.strategies.base import CacheAside, encode, list_key, product_key


class DeleteStrategy(CacheAside):
    name: ClassVar[str] = "delete"

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        await self.cache.delete(*self.keys_to_drop(product_id, row["category"]))
        self.metrics.invalidations_sent.inc()
        return encode(row)

    def keys_to_drop(self, product_id: int, category: str) -> list[str]:
        """What a write drops: every key that embeds the product, its own and its list."""
        return [product_key(product_id), list_key(category)]
