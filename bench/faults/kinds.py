"""The fault kinds: each one record, the only place a kind is described.

A `Kind` says whether it lasts, what its argument is, what it does at its start and end
in the verbs of `FaultTarget`, which strategies it applies to, whether the replicas must
open their control routes for it, whether it cuts a link that needs the runtime's proxy,
and whether it loses invalidations (for the report's rule-1 check). What a verb takes on
a given runtime (a signal to a process, a `docker` command) is the runtime's own
`FaultTarget`: the local runtime's acts, the compose runtime's renders shell commands,
and the external runtime takes no fault. A new kind is one record here; a new verb must
be implemented by every runtime's target, which tests/test_fault_kinds.py checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from services.strategies import StrategySpec


class FaultTarget(Protocol):
    """What a runtime can do to one strategy's parts while its load runs.
    `replica` is 1-based, as in `--fault ...:R`."""

    def kill_redis(self) -> None: ...
    def restart_redis(self) -> None: ...
    def pause_redis(self) -> None: ...
    def resume_redis(self) -> None: ...
    def drop_subscribers(self) -> None: ...
    def cut_link(self, replica: int) -> None: ...
    def restore_link(self, replica: int) -> None: ...
    def kill_replica(self, replica: int) -> None: ...
    def restart_replica(self, replica: int) -> None: ...
    def pause_replica(self, replica: int) -> None: ...
    def resume_replica(self, replica: int) -> None: ...
    def slow_origin(self, extra_ms: float) -> None: ...
    def delay_subscribers(self, ms: float) -> None: ...


Action = Callable[[FaultTarget, float], None]  # the target, and the fault's number argument


@dataclass(frozen=True)
class Kind:
    """One fault kind.

    controlled: applied through the replicas' own control routes, which exist only with
        FAULT_CONTROL=1 (set only for a run that schedules such a kind).
    proxied: cuts replica R's link to Redis, so that link goes through the runtime's TCP
        proxy (started only for a replica a scheduled fault of this kind names).
    loses_invalidations: invalidations sent while it lasts are lost, so only a TTL can
        end the stale reads it causes (the report checks rule 1 on it).
    """

    name: str
    lasts: bool  # takes +FOR, and ends
    arg: Literal["replica", "ms"] | None
    start: Action
    end: Action | None = None
    applies: Callable[[StrategySpec], bool] = lambda strategy: True
    what: str = ""
    controlled: bool = False
    proxied: bool = False
    loses_invalidations: bool = False


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("redis-kill", True, None,
             lambda t, _: t.kill_redis(), lambda t, _: t.restart_redis(),
             what="SIGKILL the strategy's redis-server; start it again, empty, after FOR",
             loses_invalidations=True),
        Kind("redis-pause", True, None,
             lambda t, _: t.pause_redis(), lambda t, _: t.resume_redis(),
             what="SIGSTOP the redis-server, SIGCONT after FOR: a hung Redis",
             loses_invalidations=True),
        Kind("redis-partition", True, "replica",
             lambda t, r: t.cut_link(int(r)), lambda t, r: t.restore_link(int(r)),
             what="cut replica R off Redis for FOR (its invalidations are lost)",
             proxied=True, loses_invalidations=True),
        Kind("subscriber-drop", False, None,
             lambda t, _: t.drop_subscribers(),
             applies=lambda strategy: strategy.subscriber,
             what="CLIENT KILL TYPE pubsub: every subscriber's connection, once",
             loses_invalidations=True),
        Kind("replica-kill", True, "replica",
             lambda t, r: t.kill_replica(int(r)), lambda t, r: t.restart_replica(int(r)),
             what="SIGKILL replica R; start it again after FOR"),
        Kind("replica-pause", True, "replica",
             lambda t, r: t.pause_replica(int(r)), lambda t, r: t.resume_replica(int(r)),
             what="SIGSTOP replica R, SIGCONT after FOR: a GC pause, a stuck host"),
        Kind("origin-slow", True, "ms",
             lambda t, ms: t.slow_origin(ms), lambda t, _: t.slow_origin(0.0),
             what="add MS to every origin query for FOR, on every replica", controlled=True),
        Kind("subscriber-delay", True, "ms",
             lambda t, ms: t.delay_subscribers(ms), lambda t, _: t.delay_subscribers(0.0),
             applies=lambda strategy: strategy.local_tier,
             what="every replica's local tier applies each invalidation MS late, for FOR:"
                  " a slow consumer, and the probe's calibration", controlled=True),
    )
}  # fmt: skip
CONTROLLED = frozenset(name for name, kind in KINDS.items() if kind.controlled)
LOSE_INVALIDATIONS = frozenset(name for name, kind in KINDS.items() if kind.loses_invalidations)
TARGET_VERBS = tuple(name for name in vars(FaultTarget) if not name.startswith("_"))
