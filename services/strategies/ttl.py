"""`ttl`: cache-aside, and writes leave the cache alone.

The baseline every other strategy is measured against: a reader may see the
old value for up to CACHE_TTL after a write (the guide's rule 1, alone).
"""

from typing import Any, ClassVar

from services.strategies.base import CacheAside, encode


class TtlStrategy(CacheAside):
    name: ClassVar[str] = "ttl"

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        return None if row is None else encode(row)
