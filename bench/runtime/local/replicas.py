"""Start the replicas of one strategy on 127.0.0.1 and wait until they serve.

A replica is `python -m services` (one gunicorn master); its settings are the
environment variables of docs/strategies.md and nothing else.
"""

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.bounded_http import request
from bench.runtime.base import Replica
from bench.runtime.ports import LOOPBACK, free_port
from bench.runtime.processes import Child, Supervisor
from bench.runtime.waiting import wait_http_ok, wait_until
from services.strategies import STRATEGIES

HEALTH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ReplicaConfig:
    strategy: str
    redis_url: str
    database_url: str
    ttl_s: float
    origin_delay_ms: float = 0.0
    workers: int = 1
    app: str = "services.app:app"
    fault_control: bool = False  # the control routes of origin-slow and subscriber-delay
    options_env: dict[str, str] = field(default_factory=dict)  # the strategy's own options
    invalidation_logs: Path | None = None  # INVALIDATION_LOG of each: <this>/<name>.csv
    database_read_url: str | None = None  # a read replica of the origin, which may lag

    def env(self, name: str) -> dict[str, str]:
        return {
            **({"FAULT_CONTROL": "1"} if self.fault_control else {}),
            "CACHE_STRATEGY": self.strategy,
            "CACHE_TTL": str(self.ttl_s),
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.database_url,
            **({} if self.database_read_url is None
               else {"DATABASE_READ_URL": self.database_read_url}),
            "ORIGIN_DELAY_MS": str(self.origin_delay_ms),
            "REPLICA_NAME": name,
            "WORKERS": str(self.workers),
            **self.options_env,
            **({} if self.invalidation_logs is None
               else {"INVALIDATION_LOG": str(self.invalidation_logs / f"{name}.csv")}),
        }  # fmt: skip


@dataclass(frozen=True)
class StartedReplica(Replica):
    """A replica this runtime started: its gunicorn master is `child`."""

    child: Child | None = None


def _ready(url: str, subscriber: bool) -> bool:
    """Reaching Redis, and subscribed if the strategy declares a subscriber: a replica
    deaf to invalidations would serve old values from its local tier. One request of at
    most 1 s in all; a body that is no JSON object is "not ready" (ValueError)."""
    health = json.loads(request("GET", f"{url}/healthz", timeout_s=1.0).body)
    if not isinstance(health, dict):
        raise ValueError(f"/healthz answered {health!r}")
    return health.get("redis") == "ok" and (not subscriber or health.get("subscribed") is True)


def start_replicas(
    supervisor: Supervisor,
    config: ReplicaConfig,
    count: int,
    log_dir: Path,
    env_overrides: Mapping[int, Mapping[str, str]] | None = None,
) -> list[StartedReplica]:
    """Start `count` replicas, then wait for each (logs in `log_dir/<name>.log`).

    `env_overrides` changes settings of single replicas (1-based), e.g. the REDIS_URL of
    one that reaches Redis through a fault's proxy."""
    replicas = []
    for index in range(1, count + 1):
        name = f"{config.strategy}-{index}"
        port = free_port()
        child = supervisor.start(
            name,
            [sys.executable, "-m", "services", "--bind", f"{LOOPBACK}:{port}", "--app", config.app],
            log_dir / f"{name}.log",
            extra_env={**config.env(name), **(env_overrides or {}).get(index, {})},
        )
        replicas.append(StartedReplica(name, f"http://{LOOPBACK}:{port}", child.pid, child))
    subscriber = STRATEGIES[config.strategy].subscriber
    for replica in replicas:
        wait_http_ok(f"{replica.url}/healthz", HEALTH_TIMEOUT_S, child=replica.child)
        wait_until(
            lambda url=replica.url: _ready(url, subscriber),
            HEALTH_TIMEOUT_S,
            what=f"{replica.name} to reach Redis",
            child=replica.child,
            retry_on=(OSError, ValueError),
        )
    return replicas
