"""Verify against two real replicas: it passes a strategy that keeps its promise and
refuses one that does not (replicas running `ttl` presented as `delete`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, StartedReplica, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed
from bench.runtime.verify import VerifyFailed, claim, verify

PLAN = SeedPlan(products=50, categories=5)


@contextmanager
def two_replicas(strategy: str, work: Path) -> Iterator[list[StartedReplica]]:
    with Supervisor(trap_signals=False) as supervisor:
        redis = start_redis(supervisor, work)
        database_url = f"sqlite:///{work / 'origin.db'}"
        seed(database_url, PLAN)
        config = ReplicaConfig(strategy, redis.url, database_url, ttl_s=30)
        yield start_replicas(supervisor, config, 2, work / "logs")


def test_replicas_that_invalidate_pass(tmp_path: Path) -> None:
    with two_replicas("delete", tmp_path) as replicas:
        verify("delete", replicas, PLAN.probe_ids[-1])


def test_replicas_that_keep_an_old_version_fail_a_strategy_that_promises_fresh_reads(
    tmp_path: Path,
) -> None:
    with two_replicas("ttl", tmp_path) as replicas:
        verify("ttl", replicas, PLAN.probe_ids[-1])  # ttl promises no invalidation: passes
        with pytest.raises(VerifyFailed, match=r"ttl-1 to serve version 2 not ready after 2.0 s"):
            verify("delete", replicas, PLAN.probe_ids[-2])  # what delete promises, ttl breaks


def test_the_claim_says_what_verify_holds_a_strategy_to() -> None:
    assert "every replica serves it" in claim("delete") and "stale" not in claim("delete")
    assert "until the TTL" in claim("ttl")
    assert claim("swr").startswith(claim("delete")) and "X-Cache: stale" in claim("swr")
