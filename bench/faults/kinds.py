"""The fault kinds: each is a name, whether it lasts, what its argument is, and what it
does at its start and end to the `FaultTarget` of one strategy's deployment.

A kind is a few lines here; what it takes to kill or pause a process, cut a link or slow
the origin is the runtime's (`FaultTarget`), so the same kinds apply to every runtime.
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
    name: str
    lasts: bool  # takes +FOR, and ends
    arg: Literal["replica", "ms"] | None
    start: Action
    end: Action | None = None
    applies: Callable[[StrategySpec], bool] = lambda strategy: True
    what: str = ""


# applied through the replicas' own control routes, which exist only with FAULT_CONTROL=1
CONTROLLED = frozenset({"origin-slow", "subscriber-delay"})
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("redis-kill", True, None,
             lambda t, _: t.kill_redis(), lambda t, _: t.restart_redis(),
             what="SIGKILL the strategy's redis-server; start it again, empty, after FOR"),
        Kind("redis-pause", True, None,
             lambda t, _: t.pause_redis(), lambda t, _: t.resume_redis(),
             what="SIGSTOP the redis-server, SIGCONT after FOR: a hung Redis"),
        Kind("redis-partition", True, "replica",
             lambda t, r: t.cut_link(int(r)), lambda t, r: t.restore_link(int(r)),
             what="cut replica R off Redis for FOR (its invalidations are lost)"),
        Kind("subscriber-drop", False, None,
             lambda t, _: t.drop_subscribers(),
             applies=lambda strategy: strategy.subscriber,
             what="CLIENT KILL TYPE pubsub: every subscriber's connection, once"),
        Kind("replica-kill", True, "replica",
             lambda t, r: t.kill_replica(int(r)), lambda t, r: t.restart_replica(int(r)),
             what="SIGKILL replica R; start it again after FOR"),
        Kind("replica-pause", True, "replica",
             lambda t, r: t.pause_replica(int(r)), lambda t, r: t.resume_replica(int(r)),
             what="SIGSTOP replica R, SIGCONT after FOR: a GC pause, a stuck host"),
        Kind("origin-slow", True, "ms",
             lambda t, ms: t.slow_origin(ms), lambda t, _: t.slow_origin(0.0),
             what="add MS to every origin query for FOR, on every replica"),
        Kind("subscriber-delay", True, "ms",
             lambda t, ms: t.delay_subscribers(ms), lambda t, _: t.delay_subscribers(0.0),
             applies=lambda strategy: strategy.local_tier,
             what="every replica's local tier applies each invalidation MS late, for FOR:"
                  " a slow consumer, and the probe's calibration"),
    )
}  # fmt: skip
