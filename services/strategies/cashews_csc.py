"""`cashews-csc`: `cashews` with the library's client-side cache,
`cache.setup(redis_url, client_side=True)` (cashews 7.6.0).

Followed: the README's "Redis" section ("If you would like to use client-side cache set
`client_side=True`. Client side cache will add `cashews:` prefix for each key") and its
"Cache invalidation" section, which recommends tags "with the client side feature"; the
source, backends/redis/client_side.py. Each replica holds an in-process copy (cashews'
`Memory`, 10 000 items, no TTL of its own but the value's) in front of Redis, and one
connection subscribed with `CLIENT TRACKING on REDIRECT <own id> BCAST PREFIX cashews:`
(client_side.py:56, 137-144): every change of a key under the prefix, by anyone, drops
the local copy (client_side.py:146-173). Keys in Redis are `cashews:product:<id>`.

X-Cache tells a local hit from a Redis one by watching our redis-py connections, through
public API on both sides: cashews passes the setup's keyword arguments to redis-py's
pool, so `connection_class=` is a `redis.asyncio.Connection` that notes a GET sent on
the request's behalf. A read that sent no GET and did not load was answered in-process.

What it does (site-packages/cashews/backends/redis/client_side.py):
- A replica's own write of a key (a fill is one) marks the key "recently updated" for
  5 s (lines 82-84, 114-115, 196-197); the first invalidation that arrives for a
  marked key is taken for the echo of that write and ignored, the mark dropped
  (lines 161, 171-173). Redis sends the echo itself first, so in order this costs
  nothing; tests/test_cashews_experiments.py measures what it does.
- The local copy is used only while the listener is up (line 176); it starts empty each
  time the listener (re)subscribes (line 149). A lost connection clears it and retries
  after 10 s (lines 54, 127-131); any other error ends the listener for good (132-135),
  and reads then all go to Redis.
- `init()` waits for the subscription up to the socket timeout (1 s), then logs and
  serves on without it (lines 99-112): there is no public sign of being subscribed, so
  the registry does not declare a subscriber; while unsubscribed reads skip the copy.
- With redis-py 8, which speaks RESP3 unless told otherwise (cashews allows any
  redis>=4.3.1), Redis sends the invalidations as RESP3 pushes, not as messages on
  `__redis__:invalidate`; redis-py hands them to its invalidation push handler, unset on
  this connection, and they are dropped (redis/_parsers/base.py:481-501, reached from
  hiredis.py:403-409). The listener then hears nothing: a copy from a Redis hit is kept
  with no expiry (line 184) and is served after every write, past the TTL. So this
  strategy passes `protocol=2` to redis-py, as the README's setup would need to today;
  CASHEWS_CSC_RESP3=1 runs the README's setup as is (tests/test_cashews.py measures
  both).
- Stopping takes up to 10 s when the listener's connection broke first (it sleeps
  `_RECONNECT_WAIT` before looking at its stop flag, lines 128-131, 318-321); the local
  runtime SIGKILLs a replica after 2 s of that.
"""

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from redis.asyncio import Connection

from services.strategies.base import Deps, Served
from services.strategies.cashews_cache import CashewsStrategy


@dataclass
class _Asked:
    """Whether a request's read asked Redis (a GET went out on its behalf)."""

    redis: bool = False

    def tier(self) -> Literal["local", "redis"]:
        return "redis" if self.redis else "local"


_ASKED: ContextVar[_Asked | None] = ContextVar("cashews_csc_asked", default=None)


class _NotedConnection(Connection):
    """A redis-py connection that notes each GET in the context it is sent from (a task
    the library starts for the request copies that context)."""

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        asked = _ASKED.get()
        if asked is not None and args and args[0] in ("GET", b"GET"):
            asked.redis = True
        await super().send_command(*args, **kwargs)


class CashewsClientSideStrategy(CashewsStrategy):
    name: ClassVar[str] = "cashews-csc"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.resp3: bool = deps.settings.options["resp3"]

    def setup(self) -> None:
        self.cache.setup(
            self.redis_url,
            client_side=True,
            protocol=3 if self.resp3 else 2,
            connection_class=_NotedConnection,
        )

    def health(self) -> dict[str, Any]:
        return {"cashews_csc_resp3": self.resp3}

    async def get_product(self, product_id: int) -> Served | None:
        return await self._serve(lambda: self.read_product(product_id))

    async def list_category(self, category: str) -> Served:
        served = await self._serve(lambda: self.read_list(category))
        assert served is not None  # a list is never None, at worst empty
        return served

    async def _serve(self, read: Callable[[], Awaitable[Any]]) -> Served | None:
        asked = _Asked()
        token = _ASKED.set(asked)
        try:
            return await self.reads.serve(read(), tier=asked.tier)
        finally:
            _ASKED.reset(token)
