"""Verify against two real replicas: it passes a strategy that keeps its promise and
refuses one that does not (replicas running `ttl` presented as `delete`)."""

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.runtime.base import Replica
from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, StartedReplica, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed
from bench.runtime.verify import VERIFY_FAILED, VerifyFailed, claim, verify
from tests.standin import DRIBBLE_S, PROBE_IDS, Shop, decoy, serving

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


@pytest.mark.slow
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


# --- a stand-in that misbehaves: verify fails in words, never with a traceback ----------


@contextmanager
def standin(replica: int | None = None, mode: str | None = None) -> Iterator[list[Replica]]:
    """The stand-in's two replicas over one catalogue, `replica` misbehaving as HOSTILE[mode]
    says (a redirect points at a decoy, which must hear nothing)."""
    shop = Shop(None, None)
    with decoy() as elsewhere, serving(shop) as urls:
        shop.decoy = elsewhere.url
        if replica is not None:
            shop.misbehave(replica, mode)
        yield [Replica(f"double-{i}", url) for i, url in enumerate(urls, 1)]
        assert elsewhere.requests == []


def test_a_consistent_standin_passes_and_a_nested_version_is_not_the_products() -> None:
    """`"supplier": {"version": 1}` before the product's own: the top-level one is read."""
    with standin() as replicas:
        verify("delete", replicas, PROBE_IDS[-1])
    with standin(0, "nested-version") as replicas:
        verify("delete", replicas, PROBE_IDS[-1])


URL = r"http://127\.0\.0\.1:\d+/products/24"  # the probe-only product verify writes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("replica", "mode", "said"),
    [
        (1, "redirect", rf"GET {URL}: HTTP 302 to {URL}; verify follows no redirect"),
        (0, "redirect-patch", rf"PATCH {URL}: HTTP 307 to {URL}; verify follows no redirect"),
        (0, "truncate", rf"GET {URL}: HTTP 200, but the body does not parse as JSON"
                        r" \(\d+ bytes: '\{\"id\": 24, .*"),
        (1, "dribble", rf"GET {URL}: no answer \(no whole answer within 5\.0 s\)"),
    ],
    ids=["redirect-get", "redirect-patch", "truncate", "dribble"],
)  # fmt: skip
def test_a_misbehaving_replica_fails_verify_in_one_readable_line(
    replica: int, mode: str, said: str
) -> None:
    """Before: urllib followed the redirect (the decoy answered for the replica), a cut body
    raised a JSONDecodeError and a dribbling one kept verify reading for minutes."""
    started = time.monotonic()
    with standin(replica, mode) as replicas, pytest.raises(VerifyFailed) as failed:
        verify("delete", replicas, PROBE_IDS[-1], unavailable_s=0)  # one request each
    assert re.fullmatch(said, str(failed.value)), str(failed.value)
    assert time.monotonic() - started < 5 + DRIBBLE_S


def test_python_m_bench_verify_says_it_in_one_line_and_exits_3() -> None:
    """What the compose runtime runs in a container: its last line is the run's reason."""
    with standin(0, "truncate") as replicas:
        targets = ",".join(r.url for r in replicas)
        argv = [sys.executable, "-m", "bench.runtime.verify", "--strategy", "delete",
                "--targets", targets, "--product", str(PROBE_IDS[-1])]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == VERIFY_FAILED, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("delete failed verification: GET http://127.0.0.1:")
    assert "the body does not parse as JSON" in line


def test_python_m_bench_verify_refuses_a_bad_target_in_one_line() -> None:
    argv = [sys.executable, "-m", "bench.runtime.verify", "--strategy", "delete",
            "--targets", "http://127.0.0.1:99999", "--product", "24"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(
        "bad target 'http://127.0.0.1:99999': port must be 1-65535"
    )


def test_a_replica_unavailable_at_first_is_asked_again_and_one_that_stays_so_fails() -> None:
    """No answer or a 503 says nothing of a strategy's promise: the first read is asked
    again (a podman network once let verify's first GET go unanswered for 5 s), within a
    bound."""
    with standin(1, "unavailable-once") as replicas:
        verify("delete", replicas, PROBE_IDS[-1])
    with standin(1, "unavailable") as replicas, pytest.raises(VerifyFailed) as failed:
        verify("delete", replicas, PROBE_IDS[-1], unavailable_s=0.5)
    assert re.fullmatch(rf"GET {URL}: HTTP 503, not 200", str(failed.value)), str(failed.value)


def test_a_write_whose_answer_is_lost_is_read_back_not_made_twice() -> None:
    """Verify's PATCH went unanswered on podman once; sent again blindly it would move the
    version by two. The replica is asked what it serves, and the write counts once."""
    with standin(0, "write-unanswered-once") as replicas:
        verify("delete", replicas, PROBE_IDS[-1])
    with standin(0, "unavailable") as replicas, pytest.raises(VerifyFailed, match="HTTP 503"):
        verify("delete", replicas, PROBE_IDS[-1], unavailable_s=0.5)
