"""The registry of strategies: one explicit list, never discovered by globbing.

Each entry names the class that implements a strategy and declares what an outsider may
rely on. This module imports no strategy, so the service's settings and the harness read
names and capabilities without loading redis, aiosqlite or asyncpg; the service imports
only the class it runs (`StrategySpec.load`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from services.strategies.options import Option, OptionValue


@dataclass(frozen=True)
class StrategySpec:
    """A strategy's name, where it lives, and its declared capabilities.

    invalidates_on_write: a write makes every replica's next product read fresh (bar
        propagation delay); the harness's verify step holds the strategy to it.
    lists_fresh: the write also invalidates the category lists that embed the product.
    local_tier: reads may be answered from an in-process tier (`X-Cache: local`).
    subscriber: it listens for invalidations, so a replica is not ready until its
        /healthz says `subscribed: true` (one deaf to invalidations serves old values).
    stale_by_design: past its TTL it may answer with the old value while it refreshes,
        marked `X-Cache: stale`; the analysis counts those answers apart from stale reads
        a missed invalidation caused. Its writes are held to `invalidates_on_write` all
        the same: what it serves stale is old by the clock, not overwritten.
    options: the strategy's own settings (`services.strategies.options`), declared here
        and nowhere else; the strategy reads them from `Settings.options`.
    library: the PyPI distribution that does its caching ("" for our own code). What such
        a strategy does when Redis fails or a write races a fill is the library's, measured
        and put on its behaviour card (docs/libraries.md), never mended by us.
    closest: for a library strategy, ours that does the same job, set beside it on the card.
    """

    name: str
    implementation: str  # "module:Class"
    invalidates_on_write: bool = True
    lists_fresh: bool = True
    local_tier: bool = False
    subscriber: bool = False
    stale_by_design: bool = False
    options: tuple[Option, ...] = ()
    library: str = ""
    closest: str = ""

    def option(self, name: str) -> Option:
        """The declared option `name`; KeyError naming the choices when there is none."""
        for option in self.options:
            if option.name == name:
                return option
        known = ", ".join(o.name for o in self.options) or "none"
        raise KeyError(f"{self.name} has no option {name!r} (its options: {known})")

    def option_values(self, given: dict[str, OptionValue]) -> dict[str, OptionValue]:
        """Every declared option's value: `given` where set, else its default."""
        return {o.name: o.parse(given.get(o.name)) for o in self.options}

    def load(self) -> type:
        """The class, a `services.strategies.base.Strategy` (not named here: this module
        stays below everything a strategy imports, settings included)."""
        module, _, cls = self.implementation.partition(":")
        strategy: type = getattr(importlib.import_module(module), cls)
        return strategy


STRATEGIES: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in (
        StrategySpec(
            "ttl",
            "services.strategies.ttl:TtlStrategy",
            invalidates_on_write=False,
            lists_fresh=False,
        ),
        StrategySpec("delete", "services.strategies.delete:DeleteStrategy"),
        StrategySpec("versioned", "services.strategies.versioned:VersionedStrategy"),
        StrategySpec(
            "pubsub", "services.strategies.pubsub:PubSubStrategy", local_tier=True, subscriber=True
        ),
        # beyond the guide
        StrategySpec("partial", "services.strategies.partial:PartialStrategy", lists_fresh=False),
        StrategySpec("lease", "services.strategies.lease:LeaseStrategy"),
        StrategySpec(
            "tracking",
            "services.strategies.tracking:TrackingStrategy",
            local_tier=True,
            subscriber=True,
        ),
        StrategySpec("outbox", "services.strategies.outbox:OutboxStrategy"),
        StrategySpec(
            "xfetch",
            "services.strategies.xfetch:XFetchStrategy",
            options=(
                Option(
                    "beta",
                    "XFETCH_BETA",
                    float,
                    1.0,
                    above=0,
                    help="how early a hit recomputes (the paper's beta; larger is earlier)",
                ),
                Option(
                    "lock",
                    "XFETCH_LOCK",
                    bool,
                    False,
                    help="an early refresh also takes a per-key lock: one reader refreshes",
                ),
            ),
        ),
        StrategySpec(
            "swr",
            "services.strategies.swr:SwrStrategy",
            stale_by_design=True,
            options=(
                Option(
                    "window",
                    "SWR_WINDOW",
                    float,
                    None,
                    above=0,
                    default_text="the TTL",
                    help="seconds past the TTL a value is served stale while one refresh runs",
                ),
            ),
        ),
        # against a read replica that lags (DATABASE_READ_URL)
        StrategySpec(
            "double-delete",
            "services.strategies.double_delete:DoubleDeleteStrategy",
            options=(
                Option(
                    "delay-ms",
                    "DOUBLE_DELETE_DELAY_MS",
                    int,
                    500,
                    above=0,
                    help="milliseconds after the commit the write's keys are deleted again",
                ),
            ),
        ),
        StrategySpec(
            "guarded",
            "services.strategies.guarded:GuardedStrategy",
            options=(
                Option(
                    "floor-ms",
                    "GUARDED_FLOOR_MS",
                    int,
                    5000,
                    above=0,
                    help="milliseconds a write's version floor refuses older fills"
                    " (must outlast the replica's lag)",
                ),
            ),
        ),
        StrategySpec(
            "marker",
            "services.strategies.marker:MarkerStrategy",
            options=(
                Option(
                    "ttl-ms",
                    "MARKER_TTL_MS",
                    int,
                    2000,
                    above=0,
                    help="milliseconds after a write a miss of its keys reads the primary"
                    " (must outlast the replica's lag)",
                ),
            ),
        ),
        # the caching libraries teams install (docs/libraries.md)
        StrategySpec(
            "fastapi-cache2",
            "services.strategies.fastapi_cache2:FastapiCache2Strategy",
            invalidates_on_write=False,
            lists_fresh=False,
            library="fastapi-cache2",
            closest="ttl",
        ),
        StrategySpec(
            "fastapi-cache2-clear",
            "services.strategies.fastapi_cache2:FastapiCache2ClearStrategy",
            library="fastapi-cache2",
            closest="delete",
            options=(
                Option(
                    "empty-prefix",
                    "FASTAPI_CACHE2_CLEAR_EMPTY_PREFIX",
                    bool,
                    False,
                    help="init with prefix '' instead of the README's 'fastapi-cache',"
                    " under which clear(key=...) deletes every key of the prefix",
                ),
            ),
        ),
        StrategySpec(
            "cashews",
            "services.strategies.cashews_cache:CashewsStrategy",
            library="cashews",
            closest="delete",
        ),
        StrategySpec(
            "cashews-lock",
            "services.strategies.cashews_cache:CashewsLockStrategy",
            library="cashews",
            closest="lease",
        ),
        StrategySpec(
            "cashews-early",
            "services.strategies.cashews_early:CashewsEarlyStrategy",
            library="cashews",
            closest="xfetch",
            options=(
                Option(
                    "early-ttl",
                    "CASHEWS_EARLY_TTL",
                    float,
                    None,
                    above=0,
                    default_text="a third of the TTL (cashews' own default)",
                    help="seconds after a fill a hit recomputes the value in the background"
                    " (cashews' early_ttl)",
                ),
            ),
        ),
        StrategySpec(
            "cashews-csc",
            "services.strategies.cashews_csc:CashewsClientSideStrategy",
            local_tier=True,
            library="cashews",
            closest="tracking",
            options=(
                Option(
                    "resp3",
                    "CASHEWS_CSC_RESP3",
                    bool,
                    False,
                    help="RESP3 on cashews' connections, redis-py 8's default: its client-side"
                    " cache then hears no invalidation at all",
                ),
            ),
        ),
        StrategySpec(
            "aiocache-lease",
            "services.strategies.aiocache_lease:AiocacheLeaseStrategy",
            library="aiocache",
            closest="lease",
            options=(
                Option(
                    "lease",
                    "AIOCACHE_LEASE",
                    float,
                    2.0,
                    above=0,
                    help="seconds cached_stampede's lock lasts and a reader waits on it"
                    " (aiocache's default 2)",
                ),
            ),
        ),
    )
}
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)
GUIDE_STRATEGIES: tuple[str, ...] = ("ttl", "delete", "versioned", "pubsub")  # make bench's
LIBRARY_STRATEGIES: tuple[str, ...] = tuple(n for n, s in STRATEGIES.items() if s.library)

__all__ = [
    "GUIDE_STRATEGIES",
    "LIBRARY_STRATEGIES",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "Option",
    "OptionValue",
    "StrategySpec",
]
