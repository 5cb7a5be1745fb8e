"""`pubsub`: an in-process tier in front of Redis, kept honest by PUBLISH.

Rule 4 of the guide. A write deletes the Redis keys like `delete`, drops its own
local copies, and publishes the keys; every replica's subscriber drops them from
its local tier. While the subscription is down the tier is off, and it comes back
empty (`LocalFirst`). "Up" is checked, not assumed: a heartbeat PING on the
subscriber connection must be answered, so a hung Redis turns the local tier off
as a closed connection does.
"""

import json
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from services.strategies.base import Deps, encode
from services.strategies.local_first import SUBSCRIBED, FeedEvent, LocalFirst

CHANNEL = "cache-invalidation"


class HeartbeatMissed(Exception):
    """The invalidation link went quiet: no message and no PONG within two beats."""


class PubSubStrategy(LocalFirst):
    name: ClassVar[str] = "pubsub"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        # Its own connection without a read timeout: a quiet channel is not an error.
        self._listener_redis = Redis.from_url(self.redis_url, socket_connect_timeout=0.5)

    async def stop(self) -> None:
        await super().stop()
        await self._listener_redis.aclose()

    async def feed(self) -> AsyncIterator[FeedEvent]:
        async with self._listener_redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            async for message in self._heard(pubsub):
                if message["type"] == "subscribe":
                    yield SUBSCRIBED
                elif message["type"] == "message":
                    yield json.loads(message["data"])

    async def _heard(self, pubsub: PubSub) -> AsyncIterator[dict[str, Any]]:
        """The channel's messages, with a heartbeat: a PING every `heartbeat_s`, and
        HeartbeatMissed when nothing at all (no message, no PONG) came back for two
        beats. A hung Redis or a blackholed link closes nothing, so without it the
        local tier would keep serving values whose invalidations can no longer arrive."""
        beat = self.heartbeat_s
        heard = next_ping = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=beat / 2)
            now = time.monotonic()
            if message is not None:
                heard = now
                yield message
            if now - heard > 2 * beat:
                raise HeartbeatMissed(f"no answer from Redis for {now - heard:.2f} s")
            if now >= next_ping:
                await pubsub.ping()
                next_ping = now + beat

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        keys = await self.drop(product_id, row["category"])
        await self.cache.call("PUBLISH", self.cache.redis.publish(CHANNEL, json.dumps(keys)), 0)
        self.metrics.invalidations_sent.inc()
        return encode(row)
