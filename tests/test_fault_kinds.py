"""Every fault kind through every runtime: applied for real by the local runtime, rendered
by the compose plan, refused by the external runtime. A kind is one record
(`bench.faults.kinds`); a runtime that lacks a verb some kind uses fails here, not in a
run (a forgotten compose entry used to be a KeyError at plan time)."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bench.faults.kinds import CONTROLLED, KINDS, LOSE_INVALIDATIONS, TARGET_VERBS, Kind
from bench.faults.spec import Fault
from bench.run_config import ConfigError, RunConfig
from bench.runtime.compose.plan import ComposeFaults, fault_commands
from bench.runtime.local.faults import LocalFaults, start_proxy
from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, _ready, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed
from bench.runtime.waiting import wait_until
from services.strategies import STRATEGIES

STRATEGY = "pubsub"  # every kind applies to it: it has a subscriber and a local tier
RECOVERY_S = 20.0


def a_fault(kind: Kind) -> Fault:
    arg = {"replica": 1.0, "ms": 5.0, None: None}[kind.arg]
    return Fault(kind.name, 1.0, 1.0 if kind.lasts else None, arg)


@pytest.mark.parametrize("runtime_target", [LocalFaults, ComposeFaults], ids=lambda c: c.__name__)
def test_every_runtime_s_target_has_every_verb(runtime_target: type) -> None:
    missing = [verb for verb in TARGET_VERBS if not callable(getattr(runtime_target, verb, None))]
    assert missing == []


def test_the_kinds_declare_what_the_runtimes_and_the_report_ask() -> None:
    assert {"origin-slow", "subscriber-delay"} == CONTROLLED
    assert {"redis-partition", "redis-kill", "redis-pause", "subscriber-drop"} == LOSE_INVALIDATIONS
    assert [k.name for k in KINDS.values() if k.proxied] == ["redis-partition"]
    assert all(kind.applies(STRATEGIES[STRATEGY]) for kind in KINDS.values())


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.name)
def test_every_kind_renders_on_compose(kind: Kind) -> None:
    start, end = fault_commands(a_fault(kind), STRATEGY)
    assert start and (end is not None) == kind.lasts
    script = f"{start} && echo started" + (f"; {end} && echo ended" if end else "")
    done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.name)
def test_every_kind_is_refused_by_the_external_runtime(kind: Kind) -> None:
    with pytest.raises(ConfigError, match="injects no fault"):
        RunConfig(runtime="external", strategies=("shop",), targets=("http://127.0.0.1:1",),
                  replicas=1, probe_ids=(1001, 1002), faults=(a_fault(kind),))  # fmt: skip


# --- the local runtime, for real ----------------------------------------------------


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFaults]:
    """Redis, a proxy on replica 1's link to it, and two `pubsub` replicas with their
    control routes open: what a local run starts for a schedule of every kind."""
    work = tmp_path_factory.mktemp("fault-kinds")
    with Supervisor(trap_signals=False) as supervisor:
        server = start_redis(supervisor, work, log_path=work / "redis.log")
        database_url = f"sqlite:///{work / 'origin.db'}"
        seed(database_url, SeedPlan(products=20, categories=2))
        proxy = start_proxy(supervisor, server.port, work / "proxy.log")
        config = ReplicaConfig(STRATEGY, server.url, database_url, 30.0, fault_control=True)
        through = {1: {"REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}}
        replicas = start_replicas(supervisor, config, 2, work / "logs", through)
        yield LocalFaults(supervisor, server, replicas, {1: proxy})


def answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=0.5) as response:
            return response.status == 200
    except OSError:
        return False


def pings(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


# What each kind's start visibly does; None: nothing to see from outside but that the
# verb worked (a control route answered 2xx, CLIENT KILL ran).
EFFECT: dict[str, Callable[[LocalFaults], bool] | None] = {
    "redis-kill": lambda t: not pings(t.redis.port),
    "redis-pause": lambda t: not pings(t.redis.port),
    "redis-partition": lambda t: not pings(t.proxies[1].port),
    "subscriber-drop": None,
    "replica-kill": lambda t: not answers(f"{t.replicas[0].url}/healthz"),
    "replica-pause": lambda t: not answers(f"{t.replicas[0].url}/healthz"),
    "origin-slow": None,
    "subscriber-delay": None,
}


def test_every_kind_has_a_local_effect_to_check() -> None:
    assert set(EFFECT) == set(KINDS)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.name)
def test_every_kind_is_applied_and_healed_by_the_local_runtime(
    local: LocalFaults, kind: Kind, tmp_path: Path
) -> None:
    arg = a_fault(kind).arg or 0.0
    kind.start(local, arg)
    effect = EFFECT[kind.name]
    if effect is not None:
        wait_until(lambda: effect(local), 5, what=f"{kind.name} to show", poll_interval_s=0.05)
    if kind.end is not None:
        kind.end(local, arg)
    for replica in local.replicas:
        wait_until(lambda url=replica.url: _ready(url, subscriber=True), RECOVERY_S,
                   what=f"{replica.name} serving and subscribed after {kind.name}",
                   retry_on=(OSError, ValueError))  # fmt: skip
