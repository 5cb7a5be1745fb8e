"""`tracking`: an in-process tier whose invalidations come from Redis itself.

Redis's server-assisted client-side caching (`CLIENT TRACKING`, Redis >= 6): each
replica keeps one connection on which Redis pushes the name of every key under
`product:` and `category:` that changes, whoever changed it (`TrackingLink`). A write
only deletes, as `delete` does; the DEL is what every replica hears. Unlike `pubsub`,
nothing depends on the writer remembering to PUBLISH: a key changed by a script, an
admin or a fill is invalidated as well, and so is a key that expires in Redis.

Its price, BCAST's: a fill (a SET after a miss) is a change too, so it empties every
replica's local copy of that key, the filler's own included, and their next read of it
goes to Redis once more. When the link drops or misses two heartbeats, the local tier is
off and comes back empty (`LocalFirst`), as with `pubsub`.
"""

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from services.strategies.base import encode
from services.strategies.local_first import FLUSH, SUBSCRIBED, FeedEvent, LocalFirst
from services.tracking_link import TrackingLink

PREFIXES = ("product:", "category:")  # of base.product_key and base.list_key


class TrackingStrategy(LocalFirst):
    name: ClassVar[str] = "tracking"

    async def feed(self) -> AsyncIterator[FeedEvent]:
        link = TrackingLink(self.redis_url, PREFIXES, self.heartbeat_s)
        await link.open()
        try:
            yield SUBSCRIBED
            async for keys in link.invalidations():
                yield FLUSH if keys is None else [key.decode() for key in keys]
        finally:
            await link.close()

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        await self.drop(product_id, row["category"])  # every replica hears the DEL
        self.metrics.invalidations_sent.inc()
        return encode(row)
