"""Truthful `X-Cache` for a strategy whose caching a library does.

A decorator library (fastapi-cache2, cashews, aiocache) hands back a value and never says
where it came from, and we use it through its public API only. What we own is the function
it wraps: the origin loader. So a request was a miss exactly when that loader ran in the
request's own task, or when the value it was answered with is the very object a load on
its behalf returned: cashews runs a decorated call in a task of its own
(`thunder_protection`, so that concurrent callers in one process share it), which the
request awaits. A refresh the library runs in a task of its own (cashews' early
recompute) reads the origin too and is counted as an origin read, but the request it runs
beside was answered from the cache (another object), and says so.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from services.metrics import Metrics
from services.strategies.base import (
    Deps,
    Quiet,
    Served,
    Source,
    encode,
    list_key,
    product_key,
)


@dataclass
class _Request:
    task: asyncio.Task[Any] | None = field(default_factory=asyncio.current_task)
    loaded: bool = False
    # what loads in this request's context returned, by identity (a task the library
    # starts for the request, or for a refresh, shares the context)
    values: list[Any] = field(default_factory=list)

    def answered_by_load(self, value: Any) -> bool:
        return self.loaded or any(value is loaded for loaded in self.values)


# The request being served in this task; a task a library starts copies it, and is told
# apart by `task`.
_REQUEST: ContextVar[_Request | None] = ContextVar("library_request", default=None)


class LibraryReads:
    """Serves a library-cached read and counts it: a hit of `tier`, or a miss that read
    the origin."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def serve(
        self,
        read: Awaitable[Any],
        tier: Literal["local", "redis"] | Callable[[], Literal["local", "redis"]] = "redis",
    ) -> Served | None:
        """`read`, the library's decorated call, as a body and the tier that answered it
        (`tier`, or what it answers once the read is done, when a strategy can only tell
        afterwards); None when the origin has no such row."""
        request = _Request()
        token = _REQUEST.set(request)
        try:
            value = await read
        finally:
            _REQUEST.reset(token)
        if request.answered_by_load(value):
            self.metrics.misses["redis"].inc()
            source: Source = "miss"
        else:
            source = tier() if callable(tier) else tier
            self.metrics.hits[source].inc()
        return None if value is None else Served(encode(value), source)

    async def load(self, load: Callable[[], Awaitable[Any]]) -> Any:
        """The origin read inside the library's decorator: marks the request it serves a
        miss (only when run in that request's task) and counts an origin read."""
        request = _REQUEST.get()
        if request is not None and request.task is asyncio.current_task():
            request.loaded = True
        self.metrics.origin_reads.inc()
        value = await load()
        if request is not None:
            request.values.append(value)
        return value


class LibraryStrategy(Quiet):
    """What every library-backed strategy shares: the origin loaders its library's
    decorator wraps, reads served through `LibraryReads`, and a write that commits, then
    hands the keys that embed the product to `drop`, the library's own invalidation,
    logged around it as our DEL is (`del_sent`, `del_done`). A subclass decorates the
    loaders in its `__init__` and says how to call them (`read_product`, `read_list`)."""

    name: ClassVar[str]
    invalidates: ClassVar[bool] = True  # False: a write leaves the cache alone (`drop` unused)

    def __init__(self, deps: Deps) -> None:
        self.origin = deps.origin
        self.metrics = deps.metrics
        self.invalidations = deps.cache.invalidations
        self.reads = LibraryReads(deps.metrics)

    async def load_product(self, product_id: int) -> dict[str, Any] | None:
        return await self.reads.load(lambda: self.origin.get_product(product_id))

    async def load_list(self, category: str) -> dict[str, Any]:
        async def load() -> dict[str, Any]:
            return {"category": category, "items": await self.origin.list_category(category)}

        return await self.reads.load(load)

    def read_product(self, product_id: int) -> Awaitable[Any]:
        """The decorated product read."""
        raise NotImplementedError

    def read_list(self, category: str) -> Awaitable[Any]:
        """The decorated list read."""
        raise NotImplementedError

    async def drop(self, keys: list[str]) -> None:
        """Invalidate `keys` (ours: `product:<id>`, `category:<c>:products`) the library's
        way."""
        raise NotImplementedError

    async def get_product(self, product_id: int) -> Served | None:
        return await self.reads.serve(self.read_product(product_id))

    async def list_category(self, category: str) -> Served:
        served = await self.reads.serve(self.read_list(category))
        assert served is not None  # a list is never None, at worst empty
        return served

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        if self.invalidates:
            keys = [product_key(product_id), list_key(row["category"])]
            self.invalidations.applied("del_sent", keys)
            await self.drop(keys)
            self.invalidations.applied("del_done", keys)
            self.metrics.invalidations_sent.inc()
        return encode(row)
