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
from typing import Any, Literal

from services.metrics import Metrics
from services.strategies.base import Served, Source, encode


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
