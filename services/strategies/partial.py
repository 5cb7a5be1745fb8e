"""`partial`: the guide's step 2 taken literally: a write deletes `product:{id}` only.

It exists to fall into the partial-key gotcha on purpose: a category list embeds the
product, nobody drops the list, and it stays stale until its TTL. Beside `delete`,
which drops both, it shows what the guide warns of ("invalidate every key that
contains the data") with numbers, under the `lists` scenario.
"""

from typing import ClassVar

from services.strategies.base import product_key
from services.strategies.delete import DeleteStrategy


class PartialStrategy(DeleteStrategy):
    name: ClassVar[str] = "partial"

    def keys_to_drop(self, product_id: int, category: str) -> list[str]:
        return [product_key(product_id)]  # and not the list: the gotcha
