"""`pubsub`: an in-process tier in front of Redis, kept honest by PUBLISH.

Rule 4 of the guide. A write deletes the Redis keys like `delete`, drops its own
local copies, and publishes the keys; every replica's subscriber drops them from
its local tier. The local tier is used only while the subscription is up: a
replica that cannot hear invalidations must not answer from memory, and after a
(re)subscription it starts empty, since messages may have been missed meanwhile.
"Up" is checked, not assumed: a heartbeat PING on the subscriber connection must be
answered, so a hung Redis turns the local tier off as a closed connection does.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from services.local_tier import LocalTier
from services.strategies.base import CacheAside, Deps, Served, encode, list_key, product_key

CHANNEL = "cache-invalidation"
RESUBSCRIBE_PAUSE_S = 0.2
log = logging.getLogger("services.pubsub")


class HeartbeatMissed(Exception):
    """The invalidation link went quiet: no message and no PONG within two beats."""


class PubSubStrategy(CacheAside):
    name: ClassVar[str] = "pubsub"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        settings = deps.settings
        assert settings.local_ttl is not None
        self.local = LocalTier(settings.local_ttl, settings.local_max_items)
        self.subscribed = asyncio.Event()
        self.heartbeat_s = settings.subscriber_heartbeat_s
        # Its own connection without a read timeout: a quiet channel is not an error.
        self._listener_redis = Redis.from_url(settings.redis_url, socket_connect_timeout=0.5)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="pubsub-subscriber")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._listener_redis.aclose()

    def health(self) -> dict[str, Any]:
        return {"subscribed": self.subscribed.is_set(), "local_items": len(self.local)}

    async def _listen(self) -> None:
        outage = False
        while True:
            try:
                async with self._listener_redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in self._heard(pubsub):
                        if message["type"] == "subscribe":
                            self.local.clear()
                            self.subscribed.set()
                            if outage:
                                log.warning("invalidation channel is back; local tier emptied")
                                outage = False
                        elif message["type"] == "message":
                            self.local.invalidate(*json.loads(message["data"]))
                            self.metrics.invalidations_received.inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                self.local.clear()
                self.metrics.cache_errors.inc()
                if not outage:
                    outage = True
                    log.warning("invalidation channel lost (%s); local tier off", exc)
                await asyncio.sleep(RESUBSCRIBE_PAUSE_S)

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

    async def read(self, key: str, load: Callable[[], Awaitable[Any]]) -> Served | None:
        """The local tier first, but only while invalidations can reach it."""
        if not self.subscribed.is_set():
            return await self.read_through(key, load)
        body = self.local.get(key)
        if body is not None:
            self.metrics.hits["local"].inc()
            return Served(body, "local")
        self.metrics.misses["local"].inc()
        token = self.local.token()
        served = await self.read_through(key, load)
        if served is not None:
            self.local.put(key, served.body, token)
        return served

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        keys = [product_key(product_id), list_key(row["category"])]
        await self.cache.delete(*keys)
        self.local.invalidate(*keys)
        await self.cache.call("PUBLISH", self.cache.redis.publish(CHANNEL, json.dumps(keys)), 0)
        self.metrics.invalidations_sent.inc()
        return encode(row)
