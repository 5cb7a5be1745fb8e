"""The shared Redis tier, failing open.

Every call that fails is counted and answered as a miss (or a no-op), so the
replica keeps serving from the origin while Redis is away. The outage is logged
once when it starts and once when it ends, never once per request.
"""

import logging
from collections.abc import Awaitable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from services.invalidation_log import InvalidationLog
from services.metrics import Metrics

log = logging.getLogger("services.cache")
T = TypeVar("T")


def connect(redis_url: str) -> Redis:
    """One pool per process. No retries: a retried call to a dead Redis delays the
    fallback to the origin by the whole backoff, which is worse than a miss."""
    return Redis.from_url(
        redis_url,
        socket_connect_timeout=0.5,
        socket_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
        max_connections=256,
    )


class Cache:
    def __init__(
        self, redis: Redis, metrics: Metrics, invalidations: InvalidationLog | None = None
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.invalidations = invalidations or InvalidationLog()
        self.down = False

    async def call(self, what: str, awaitable: Awaitable[T], fallback: T) -> T:
        """`awaitable`'s result, or `fallback` when Redis failed it. RuntimeError too:
        uvloop raises it, not an OSError, when a command is written to a connection that
        was reset (found by the redis-partition fault: those reads answered 500)."""
        try:
            result = await awaitable
        except (RedisError, OSError, RuntimeError) as exc:
            self.metrics.cache_errors.inc()
            if not self.down:
                self.down = True
                log.warning("redis unavailable (%s: %s); serving from the origin", what, exc)
            return fallback
        if self.down:
            self.down = False
            log.warning("redis is back")
        return result

    async def get(self, key: str) -> bytes | None:
        return await self.call("GET", self.redis.get(key), None)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.call("SET", self.redis.set(key, value, px=int(ttl_s * 1000)), None)

    async def delete(self, *keys: str, logged: bool = True) -> None:
        """DEL the keys; `logged` writes the DEL's send and reply to the invalidation log,
        the white-box time at which a replica could first serve a write."""
        if logged:
            self.invalidations.applied("del_sent", keys)
        done = await self.call("DEL", self.redis.delete(*keys), None) is not None
        if logged and done:
            self.invalidations.applied("del_done", keys)
