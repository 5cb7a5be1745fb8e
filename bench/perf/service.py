"""`bench perf-service`: what the cached read paths cost against their bare ceilings.

One replica per strategy, the same gunicorn settings, wrk on loopback. Four
figures: a product read answered from Redis (`delete`) against an endpoint that
does one Redis GET and nothing else, and a product read answered from the local
tier (`pubsub`) against an endpoint that returns a constant. Endpoints are
measured in interleaved rounds and the median kept, so drift of the machine hits
all four alike.
"""

import re
import shutil
import statistics
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.perf.app import BARE_KEY
from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed
from services.strategies import STRATEGIES

PRODUCT_PATH = "/products/1"
# The replicas measured, by what the registry declares rather than by name: the first
# strategy answering from Redis alone (and invalidating, with no options), and the first
# with an in-process tier.
REDIS_TIER = next(s.name for s in STRATEGIES.values()
                  if s.invalidates_on_write and not (s.local_tier or s.options))  # fmt: skip
LOCAL_TIER = next(s.name for s in STRATEGIES.values() if s.local_tier)


class PerfError(RuntimeError):
    """The benchmark cannot run or its result would be wrong; one line says why."""


@dataclass(frozen=True)
class Endpoint:
    label: str
    url: str


def wrk_rps(url: str, duration_s: float, connections: int) -> float:
    """Requests per second wrk reached on `url`; any non-2xx answer voids the figure."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", url],
        capture_output=True, text=True, check=True, timeout=duration_s + 30,
    )  # fmt: skip
    if "Non-2xx" in result.stdout or "Socket errors" in result.stdout:
        raise PerfError(f"wrk saw errors on {url}:\n{result.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        raise PerfError(f"no Requests/sec in wrk's output:\n{result.stdout}")
    return float(match.group(1))


def _get(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read(), response.headers.get("X-Cache", "")


def _verify(url: str, expected_cache: str) -> bytes:
    """Warm the path and check it is served from the tier it claims to measure."""
    for _ in range(3):
        body, cache = _get(url)
    if cache != expected_cache:
        raise PerfError(f"{url} answered X-Cache: {cache}, expected {expected_cache}")
    return body


def measure(duration_s: float, connections: int, rounds: int) -> dict[str, float]:
    """Median rps per endpoint over `rounds` interleaved rounds."""
    if shutil.which("wrk") is None:
        raise PerfError("wrk not found on PATH (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="perf-service-") as tmp, Supervisor() as supervisor:
        work = Path(tmp)
        server = start_redis(supervisor, work)
        database_url = f"sqlite:///{work / 'origin.db'}"
        seed(database_url, SeedPlan(products=1000, categories=10))
        replicas = {
            strategy: start_replicas(
                supervisor,
                ReplicaConfig(
                    strategy, server.url, database_url, ttl_s=3600, app="bench.perf.app:app"
                ),
                1,
                work,
            )[0]
            for strategy in (REDIS_TIER, LOCAL_TIER)
        }
        cached = _verify(replicas[REDIS_TIER].url + PRODUCT_PATH, "redis")
        _verify(replicas[LOCAL_TIER].url + PRODUCT_PATH, "local")
        redis.Redis.from_url(server.url).set(BARE_KEY, cached)
        endpoints = [
            Endpoint("redis_cached_read", replicas[REDIS_TIER].url + PRODUCT_PATH),
            Endpoint("bare_redis_get", replicas[REDIS_TIER].url + "/_bare/redis"),
            Endpoint("local_tier_read", replicas[LOCAL_TIER].url + PRODUCT_PATH),
            Endpoint("bare_constant", replicas[LOCAL_TIER].url + "/_bare/const"),
        ]
        for endpoint in endpoints:  # warm connections and code paths, not measured
            wrk_rps(endpoint.url, 1, connections)
        samples: dict[str, list[float]] = {e.label: [] for e in endpoints}
        for _ in range(rounds):
            for endpoint in endpoints:
                samples[endpoint.label].append(wrk_rps(endpoint.url, duration_s, connections))
                supervisor.check_alive()
        return {label: statistics.median(values) for label, values in samples.items()}


def report(rps: dict[str, float]) -> str:
    redis_ratio = rps["redis_cached_read"] / rps["bare_redis_get"]
    local_ratio = rps["local_tier_read"] / rps["bare_constant"]
    lines = [f"{label:<20} {value:>10.0f} rps" for label, value in rps.items()]
    lines += [
        f"cached read / bare Redis GET   = {redis_ratio:.3f} (goal >= 0.85)",
        f"local-tier read / bare constant = {local_ratio:.3f} (goal >= 0.90)",
    ]
    return "\n".join(lines)
