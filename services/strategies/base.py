"""What every strategy is, and the cache-aside read they share.

A strategy decides which keys hold a product and what a write does to them;
everything else (origin, Redis tier, counters) is handed to it ready-made.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, get_args

from services.cache import Cache
from services.config import Settings
from services.metrics import Metrics
from services.origin import Origin

# `stale`: from Redis, past its TTL on purpose (see `StrategySpec.stale_by_design`)
Source = Literal["local", "redis", "stale", "miss"]
SOURCES: tuple[Source, ...] = get_args(Source)


class Served(NamedTuple):
    """A response body (JSON bytes, served as is) and the tier it came from."""

    body: bytes
    source: Source


@dataclass
class Deps:
    settings: Settings
    origin: Origin
    cache: Cache
    metrics: Metrics


class Strategy(Protocol):
    # Its capabilities are declared in the registry (services.strategies), not here.
    name: ClassVar[str]

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def get_product(self, product_id: int) -> Served | None: ...
    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None: ...
    async def list_category(self, category: str) -> Served: ...
    def health(self) -> dict[str, Any]: ...


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def product_key(product_id: int) -> str:
    return f"product:{product_id}"


def list_key(category: str) -> str:
    return f"category:{category}:products"


class Quiet:
    """A strategy with nothing to start, stop or report in /healthz unless it says so."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return {}


class CacheAside(Quiet):
    """Shared plumbing: read through Redis, fill on a miss with a TTL, always."""

    def __init__(self, deps: Deps) -> None:
        self.origin = deps.origin
        self.cache = deps.cache
        self.metrics = deps.metrics
        self.ttl_s = deps.settings.cache_ttl

    async def read_through(
        self, key: str | None, load: Callable[[], Awaitable[Any]]
    ) -> Served | None:
        """Redis first; on a miss load from the origin and cache it (unless `load` gives None).

        `key` None means the cache cannot be used right now (Redis is down): go to the origin.
        """
        if key is not None:
            served = await self.from_redis(key)
            if served is not None:
                return served
        body = await self.from_origin(load)
        if body is not None and key is not None:
            await self.cache.set(key, body, self.ttl_s)
        return None if body is None else Served(body, "miss")

    async def from_redis(self, key: str) -> Served | None:
        """The key's body from Redis, counted as a hit; None on a miss (or Redis away)."""
        body = await self.cache.get(key)
        if body is None:
            return None
        self.metrics.hits["redis"].inc()
        return Served(body, "redis")

    async def from_origin(self, load: Callable[[], Awaitable[Any]]) -> bytes | None:
        """`load`'s value encoded, counted as a miss and an origin read; None if absent."""
        self.metrics.misses["redis"].inc()
        self.metrics.origin_reads.inc()
        value = await load()
        return None if value is None else encode(value)

    async def load_list(self, category: str) -> dict[str, Any]:
        return {"category": category, "items": await self.origin.list_category(category)}

    async def read(self, key: str, load: Callable[[], Awaitable[Any]]) -> Served | None:
        """How this strategy reads a key; a strategy with a tier in front overrides it."""
        return await self.read_through(key, load)

    async def get_product(self, product_id: int) -> Served | None:
        return await self.read(product_key(product_id), lambda: self.origin.get_product(product_id))

    async def list_category(self, category: str) -> Served:
        served = await self.read(list_key(category), lambda: self.load_list(category))
        assert served is not None  # a list is never None, at worst empty
        return served
