"""Prometheus counters of one app instance.

Each app gets its own registry so that several apps can live in one process
(tests, the perf benchmark) without colliding in the global default registry.
Label children are bound once here: `.labels()` on the hot path costs a dict
lookup and a lock per request.
"""

from prometheus_client import CollectorRegistry, Counter, generate_latest

TIERS = ("local", "redis")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        hits = Counter(
            "cache_hits", "Reads answered by a cache tier", ["tier"], registry=self.registry
        )
        misses = Counter(
            "cache_misses", "Reads a cache tier could not answer", ["tier"], registry=self.registry
        )
        self.hits = {tier: hits.labels(tier=tier) for tier in TIERS}
        self.misses = {tier: misses.labels(tier=tier) for tier in TIERS}
        self.invalidations_sent = Counter(
            "invalidations_sent",
            "Invalidations this replica issued (keys or INCRs)",
            registry=self.registry,
        )
        self.invalidations_received = Counter(
            "invalidations_received",
            "Invalidation messages this replica's subscriber took",
            registry=self.registry,
        )
        self.cache_errors = Counter(
            "cache_errors",
            "Redis calls that failed; the request was served from the origin",
            registry=self.registry,
        )
        self.origin_reads = Counter(
            "origin_reads", "Queries the origin answered for reads", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
