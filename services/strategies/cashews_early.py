"""`cashews-early`: cashews 7.6.0's `@cache.early(ttl=..., early_ttl=...)`, tags to
invalidate on write as in `cashews`.

Followed: the README's "Early" section (cashews-7.6.0.dist-info/METADATA) and
decorators/cache/early.py. A value is stored with the time it goes early,
`early_expire_at = fill + early_ttl`; a hit past it takes `<key>:lock` (SET NX, held for
early_ttl) and recomputes in a background task, answering the old value meanwhile
(early.py:95-110). So no reader waits, and one reader per replica-set refreshes.

CASHEWS_EARLY_TTL unset leaves early_ttl to cashews' own default, a third of the TTL
(early.py:63-64), so a value is refreshed after a third of its life: the library's
choice, and the one a team gets by not choosing.

Beside `xfetch`: the refresh time is fixed, not drawn, and the refresh runs in the
background, so the request that triggers it is a hit (the loader's origin read is counted
all the same, `LibraryReads`). The key carries cashews' prefix, `early:v2:product:<id>`
(early.py:56); tags find it without our spelling it. The refresh lock is deleted in a
task of its own after the fill (early.py:147). What it does not do: a refresh that read
the origin before a write and fills after the write's delete re-caches the old row, as
in `delete`; and a cold key still sends every concurrent reader of other replicas to the
origin (only in-process callers share one call).
"""

from collections.abc import Callable
from typing import Any, ClassVar

from services.strategies.base import Deps
from services.strategies.cashews_cache import CashewsStrategy


class CashewsEarlyStrategy(CashewsStrategy):
    name: ClassVar[str] = "cashews-early"

    def __init__(self, deps: Deps) -> None:
        self.early_ttl_s: float | None = deps.settings.options["early-ttl"]
        super().__init__(deps)

    def decorate(self, load: Callable[..., Any], key: str) -> Callable[..., Any]:
        wrapped: Callable[..., Any] = self.cache.early(
            ttl=self.ttl_s, early_ttl=self.early_ttl_s, key=key, tags=[key]
        )(load)
        return wrapped

    def health(self) -> dict[str, Any]:
        return {"cashews_early_ttl": self.early_ttl_s}
