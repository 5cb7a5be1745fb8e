"""Fill the origin before any replica starts.

Rows are a pure function of the arguments, and inserts skip existing ids, so a
second run with the same arguments changes nothing. Probe products sit in a
category of their own that no scenario reads or writes, so the probe's
measurements are never disturbed by the load.
"""

import asyncio
from dataclasses import dataclass

from services.origin import SEED_UPDATED_AT, Product, open_origin

PROBE_CATEGORY = "probe"


@dataclass(frozen=True)
class SeedPlan:
    products: int
    categories: int
    probe_products: int = 16

    def rows(self) -> list[Product]:
        load = [self._row(i, f"c{(i - 1) % self.categories}") for i in range(1, self.products + 1)]
        probe = [
            self._row(i, PROBE_CATEGORY)
            for i in range(self.products + 1, self.products + self.probe_products + 1)
        ]
        return load + probe

    @property
    def probe_ids(self) -> range:
        return range(self.products + 1, self.products + self.probe_products + 1)

    @staticmethod
    def _row(product_id: int, category: str) -> Product:
        return {
            "id": product_id,
            "name": f"product-{product_id}",
            "price": round(1 + (product_id * 7919 % 10_000) / 100, 2),
            "category": category,
            "version": 1,
            "updated_at": SEED_UPDATED_AT,
        }


async def seed_async(database_url: str, plan: SeedPlan) -> int:
    """Create the schema and insert the plan's rows; return how many were new."""
    origin = await open_origin(database_url)
    try:
        await origin.create_schema()
        return await origin.insert_products(plan.rows())
    finally:
        await origin.close()


def seed(database_url: str, plan: SeedPlan) -> int:
    return asyncio.run(seed_async(database_url, plan))
