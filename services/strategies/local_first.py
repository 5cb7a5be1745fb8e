"""What `pubsub` and `tracking` share: an in-process tier in front of Redis, used only
while a feed of invalidations is known to reach it.

The tier is off (reads go to Redis) whenever the feed is down, and it starts empty each
time the feed comes back: invalidations sent meanwhile were missed, so nothing held
before can be trusted. Each strategy says where its feed comes from (`feed`) and what a
write does; how the feed's ups and downs govern the tier is here, once.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from services.local_tier import LocalTier
from services.strategies.base import CacheAside, Deps, Served, list_key, product_key

RESUBSCRIBE_PAUSE_S = 0.2
SUBSCRIBED: Literal["subscribed"] = "subscribed"  # the feed is up: from now on, nothing is missed
FLUSH: Literal["flush"] = "flush"  # every key may have changed
FeedEvent = Literal["subscribed", "flush"] | list[str]  # or the keys that changed


class LocalFirst(CacheAside):
    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        settings = deps.settings
        assert settings.local_ttl is not None
        self.local = LocalTier(settings.local_ttl, settings.local_max_items)
        self.subscribed = asyncio.Event()
        self.heartbeat_s = settings.subscriber_heartbeat_s
        self.redis_url = settings.redis_url
        self._task: asyncio.Task[None] | None = None
        self._outage = False
        self._log = logging.getLogger(f"services.{self.name}")
        self._apply_after_s = 0.0  # the subscriber-delay fault: a slow consumer

    def feed(self) -> AsyncIterator[FeedEvent]:
        """Open the strategy's invalidation feed and yield SUBSCRIBED once it is up, then
        what it hears; raise (anything) when it is lost, however quietly."""
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name=f"{self.name}-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def health(self) -> dict[str, Any]:
        return {"subscribed": self.subscribed.is_set(), "local_items": len(self.local)}

    async def _follow(self) -> None:
        while True:
            try:
                async for event in self.feed():
                    self._hear(event)
                problem = "the feed ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = str(exc) or type(exc).__name__
            self._lose(problem)
            await asyncio.sleep(RESUBSCRIBE_PAUSE_S)

    def _hear(self, event: FeedEvent) -> None:
        if event == SUBSCRIBED:
            self.local.clear()
            self.subscribed.set()
            if self._outage:
                self._log.warning("invalidation feed is back; local tier emptied")
                self._outage = False
        elif event == FLUSH:
            self.local.clear()
        else:
            self.metrics.invalidations_received.inc()
            if self._apply_after_s:
                asyncio.get_running_loop().call_later(self._apply_after_s, self._forget, event)
            else:
                self._forget(event)

    def delay_invalidations(self, ms: float) -> None:
        """Apply each invalidation heard from now on `ms` late, each on its own clock (a
        slow consumer, not a backlog); 0 restores. The harness's calibration: the probe
        must see the delay and the checker no stale read older than it."""
        self._apply_after_s = ms / 1000

    def _lose(self, problem: str) -> None:
        self.subscribed.clear()
        self.local.clear()
        self.metrics.cache_errors.inc()
        if not self._outage:
            self._outage = True
            self._log.warning("invalidation feed lost (%s); local tier off", problem)

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

    async def drop(self, product_id: int, category: str) -> list[str]:
        """A write's invalidation here and in Redis: the product's keys go from both tiers
        (our own next read must not wait for a message from afar); the keys, for telling
        the others."""
        keys = [product_key(product_id), list_key(category)]
        await self.cache.delete(*keys)
        self._forget(keys)
        return keys

    def _forget(self, keys: list[str]) -> None:
        """Drop `keys` from the local tier, and say when (`InvalidationLog`)."""
        self.local.invalidate(*keys)
        self.cache.invalidations.applied("local", keys)
