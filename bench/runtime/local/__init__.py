"""The local runtime: every part of the experiment as a process on this machine.

Per strategy: its own redis-server on a free loopback port (no persistence), a freshly
seeded SQLite origin in a scratch folder, N replicas on 127.0.0.1, then Locust and the
probe. One `Supervisor` owns every process of a run: each strategy's are stopped when it
is done, and whatever is left when the run ends, however it ends.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.faults.injector import Injector
from bench.faults.spec import Fault
from bench.layout import RunFolder
from bench.run_config import ConfigError, RunConfig
from bench.runtime.base import LoadResult, Replica
from bench.runtime.commands import probe_options
from bench.runtime.load import start_load, watch_load
from bench.runtime.local.faults import LocalFaults
from bench.runtime.local.lag import LagMeter
from bench.runtime.local.links import origin_links, redis_links
from bench.runtime.local.postgres import PostgresOrigin, find_bindir
from bench.runtime.local.redis_server import find_redis_server, redis_server_version, start_redis
from bench.runtime.local.replicas import ReplicaConfig, start_replicas
from bench.runtime.local.scraper import Scraper
from bench.runtime.ports import LOOPBACK
from bench.runtime.processes import Child, Supervisor
from bench.runtime.seed import SeedPlan, seed
from bench.runtime.signals import shielded
from bench.runtime.verify import verify
from services.strategies import STRATEGIES


@dataclass
class LocalDeployment:
    """One strategy's processes, started and healthy."""

    supervisor: Supervisor
    config: RunConfig
    strategy: str
    run: RunFolder
    replicas: list[Replica]
    probe_ids: range  # the last is verify's, the others the probe's
    target: LocalFaults
    # With a lagging read replica a write's delete is undone by the next miss, which reads
    # the old row: verify's "every replica fresh within 2 s" fails for most strategies, and
    # that failure is the finding the run is for, so it is recorded and measured anyway.
    measured_despite_verify: bool = False
    lag: tuple[str, str] | None = None  # (primary, replica) URLs whose lag is sampled

    def verify(self) -> None:
        verify(self.strategy, self.replicas, self.probe_ids[-1])

    def run_load(self, faults: Sequence[Fault]) -> LoadResult:
        injector = Injector(faults, self.target, STRATEGIES[self.strategy])
        urls = [r.url for r in self.replicas]
        load = start_load(self.supervisor, self.config, self.strategy, urls, self.run)
        injector.start()
        probe = self.start_probe()
        scraper = Scraper(self.replicas, self.run.metrics(self.strategy)).start()
        meter = None
        if self.lag is not None:
            meter = LagMeter(*self.lag, self.run.origin_lag(self.strategy)).start()
        try:
            requests, failures = watch_load(
                self.supervisor, self.config, self.strategy, load, injector
            )
        except BaseException:
            injector.finish()  # nothing paused or cut outlives the load
            with suppress(OSError):  # the load's own error is the one to tell
                scraper.stop()
            raise
        finally:
            if meter is not None:
                meter.stop()
        applied = injector.finish()
        scraper.stop()  # raises the OSError that stopped its writing (a full disk), if any
        self.supervisor.stop(probe)  # SIGTERM: it writes its last complete cycle and exits
        return LoadResult(load.lead.returncode, failures, applied, requests)

    def start_probe(self) -> Child:
        out = str(self.run.probe_file(self.strategy))
        options = probe_options(self.config, self.strategy, self.replicas, self.probe_ids[:-1], out)
        argv = [sys.executable, "-m", "bench.probe", *options]
        child = self.supervisor.start("probe", argv, self.run.logs(self.strategy) / "probe.log")
        child.exit_expected = True  # it may finish its cycles before Locust does
        return child


class LocalRuntime:
    name = "local"

    def __init__(self) -> None:
        self.redis_binary: Path | None = None
        self._supervisor: Supervisor | None = None
        self._scratch: Path | None = None
        self._postgres: PostgresOrigin | None = None  # the strategy's, when it has one

    def check(self, config: RunConfig | None = None) -> None:
        """What this machine must have: a redis-server, and PostgreSQL's server binaries
        for a run whose origin is the suite's own PostgreSQL (both RuntimeUnavailable)."""
        self.redis_binary = find_redis_server()  # RedisServerNotFound is RuntimeUnavailable
        if config is not None and config.effective_origin == "postgres":
            find_bindir()  # PostgresNotFound, before any folder is made

    def facts(self) -> dict[str, Any]:
        assert self.redis_binary is not None, "check() first"
        return {"redis_server": redis_server_version(self.redis_binary)}

    @contextmanager
    def session(self, config: RunConfig, run: RunFolder) -> Iterator[None]:
        """A supervisor for the run's processes and a scratch folder for its origins."""
        scratch = Path(tempfile.mkdtemp(prefix="bench-run-"))
        try:
            with Supervisor() as supervisor:
                self._supervisor, self._scratch = supervisor, scratch
                yield
        finally:
            self._supervisor = self._scratch = None
            with shielded():
                shutil.rmtree(scratch, ignore_errors=True)

    @contextmanager
    def deploy(self, config: RunConfig, strategy: str, run: RunFolder) -> Iterator[LocalDeployment]:
        """A clean Redis and origin of its own, then the replicas; all stopped on leaving."""
        supervisor, scratch = self._supervisor, self._scratch
        assert supervisor is not None and scratch is not None, "deploy() inside session()"
        before = set(supervisor.children)
        try:
            work, logs = scratch / strategy, run.logs(strategy)
            redis = start_redis(
                supervisor, work, binary=self.redis_binary, log_path=logs / "redis-server.log"
            )
            plan = SeedPlan(config.products, config.categories)
            database_url, read_url = self.origin(config, supervisor, work, logs, plan)
            # a replica a scheduled partition cuts, or every one under --link-delay redis=...,
            # reaches Redis through a proxy; the origin's servers too under origin=...
            proxies = redis_links(supervisor, config, redis.port, logs)
            through = {r: {"REDIS_URL": f"redis://{LOOPBACK}:{p.port}/0"}
                       for r, p in proxies.items()}  # fmt: skip
            linked_url, linked_read_url = origin_links(
                supervisor, config, (database_url, read_url), logs
            )
            replica_config = ReplicaConfig(
                strategy, redis.url, linked_url, config.ttl_s, config.effective_origin_delay_ms,
                fault_control=config.fault_control,
                options_env=config.option_env(strategy), invalidation_logs=run.invalidations,
                database_read_url=linked_read_url,
            )  # fmt: skip
            run.invalidations.mkdir(parents=True, exist_ok=True)
            replicas = start_replicas(supervisor, replica_config, config.replicas, logs, through)
            target = LocalFaults(supervisor, redis, list(replicas), proxies)
            deployment = LocalDeployment(
                supervisor, config, strategy, run, list(replicas), plan.probe_ids, target
            )
            if read_url is not None:
                deployment.measured_despite_verify = True
                deployment.lag = (database_url, read_url)
            yield deployment
        finally:  # what this strategy started, and nothing of the next one's
            supervisor.stop(*[child for child in supervisor.children if child not in before])
            if self._postgres is not None:
                self._postgres.remove()
                self._postgres = None

    def origin(
        self, config: RunConfig, supervisor: Supervisor, work: Path, logs: Path, plan: SeedPlan
    ) -> tuple[str, str | None]:
        """A freshly seeded origin for one strategy: (DATABASE_URL, DATABASE_READ_URL)."""
        if config.effective_origin == "sqlite":
            database_url = f"sqlite:///{work / 'origin.db'}"
            seed(database_url, plan)
            return database_url, None
        self._postgres = postgres = PostgresOrigin(supervisor, find_bindir(), logs)
        primary = postgres.start_primary()
        seed(primary.url, plan)  # before the base backup, so the replica starts with it
        lag_ms = config.effective_origin_lag_ms
        if not lag_ms:
            return primary.url, None
        return primary.url, postgres.start_replica(lag_ms).url

    def plan(self, config: RunConfig, run: RunFolder) -> list[str]:
        raise ConfigError("--dry-run prints the commands of --runtime compose; local has none")
