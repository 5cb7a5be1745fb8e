"""Start the replicas of one strategy on 127.0.0.1 and wait until they serve.

A replica is `python -m services` (one gunicorn master); its settings are the
environment variables of DESIGN.md and nothing else.
"""

import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.ports import free_port
from bench.processes import Child, Supervisor, wait_http_ok, wait_until

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

    def env(self, name: str) -> dict[str, str]:
        return {
            "CACHE_STRATEGY": self.strategy,
            "CACHE_TTL": str(self.ttl_s),
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.database_url,
            "ORIGIN_DELAY_MS": str(self.origin_delay_ms),
            "REPLICA_NAME": name,
            "WORKERS": str(self.workers),
        }


@dataclass(frozen=True)
class Replica:
    name: str
    url: str
    child: Child


def _ready(url: str) -> bool:
    """Healthy, and for pubsub subscribed: a replica deaf to invalidations is not ready."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/healthz", timeout=1.0) as response:
        health = json.load(response)
    return health.get("redis") == "ok" and health.get("subscribed", True) is True


def start_replicas(
    supervisor: Supervisor, config: ReplicaConfig, count: int, log_dir: Path
) -> list[Replica]:
    """Start `count` replicas, then wait for each (logs in `log_dir/<name>.log`)."""
    replicas = []
    for index in range(1, count + 1):
        name = f"{config.strategy}-{index}"
        port = free_port()
        child = supervisor.start(
            name,
            [sys.executable, "-m", "services", "--bind", f"127.0.0.1:{port}", "--app", config.app],
            log_dir / f"{name}.log",
            extra_env=config.env(name),
        )
        replicas.append(Replica(name, f"http://127.0.0.1:{port}", child))
    for replica in replicas:
        wait_http_ok(f"{replica.url}/healthz", HEALTH_TIMEOUT_S, child=replica.child)
        wait_until(
            lambda url=replica.url: _ready(url),
            HEALTH_TIMEOUT_S,
            what=f"{replica.name} to reach Redis",
            child=replica.child,
            retry_on=(OSError, ValueError),
        )
    return replicas
