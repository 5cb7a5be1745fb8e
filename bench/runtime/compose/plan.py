"""The compose runtime's commands, as data: a pure function of the run config.

Per strategy, as locally: a clean Redis, a freshly seeded origin (PostgreSQL here; with
`--origin-lag-ms`, then its streaming replica that lags, where the replicas read), N
replicas, verify, the Locust load beside the probe, then `down -v`, so the next strategy
starts from nothing. The raw files land in the same run-folder layout through
compose.yaml's bind mount. `--dry-run` prints this plan; `bench.runtime.compose` runs
the same steps as a shell runs the printed lines.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from bench.faults.spec import Fault
from bench.layout import RunFolder
from bench.run_config import RunConfig
from bench.runtime.base import Replica
from bench.runtime.commands import load_env, locust_lead, probe_options, verify_options
from bench.runtime.seed import SeedPlan
from services.strategies import STRATEGIES, STRATEGY_NAMES

PROJECT = "cache-invalidation-bench"  # COMPOSE_PROJECT_NAME: container names are predictable
ROOT = Path(__file__).resolve().parents[3]  # where compose.yaml is
REPLICA_PROFILE = "origin-replica"  # compose.yaml's postgres-replica, only with a lag
PROFILES = (*STRATEGY_NAMES, "load", "tools", REPLICA_PROFILE)
DATABASE_URL = "postgresql://bench:bench@postgres:5432/bench"  # compose.yaml's postgres
READ_URL = "postgresql://bench:bench@postgres-replica:5432/bench"  # its postgres-replica
# The image's pg_hba.conf admits other containers' logins to every database but not the
# replication protocol, which a base backup and a standby use: one line more, reloaded.
ALLOW_REPLICATION = ('echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"'
                     ' && psql -q -U bench -d bench -c "SELECT pg_reload_conf()"')  # fmt: skip
RESULTS_INSIDE = "/results"  # where compose.yaml mounts BENCH_RESULTS
APP_PORT = 8000
WORKERS_WAIT_S = 60  # containers start slower than processes: the master waits longer


@dataclass(frozen=True)
class Step:
    """One command of the plan, and why it is there."""

    argv: tuple[str, ...]
    why: str
    log: Path | None = None  # stdout and stderr go here (relative to the repository root)
    background: bool = False  # runs beside the next steps until a `wait`
    check: bool = True  # a non-zero exit fails the run
    verifies: bool = False  # exit code VERIFY_FAILED: report the strategy, do not measure it

    def render(self) -> str:
        line = shlex.join(self.argv)
        if self.log is not None:
            line += f" > {shlex.quote(str(self.log))} 2>&1"
        return f"{line}{' &' if self.background else ''}  # {self.why}"


@dataclass(frozen=True)
class StrategyPlan:
    strategy: str
    replicas: tuple[tuple[str, str], ...]  # (name, url), in the order the probe polls them
    steps: tuple[Step, ...]  # start, seed, verify (the step that `verifies`), load and probe
    teardown: tuple[Step, ...]  # collect the logs, down -v: also after a failure or Ctrl-C
    lagging: bool = False  # the replicas read from a streaming replica of the origin that lags

    @property
    def verify_index(self) -> int:
        """Where the verify step is: the steps before it start the strategy's parts."""
        return next(i for i, step in enumerate(self.steps) if step.verifies)


@dataclass(frozen=True)
class Plan:
    prologue: tuple[Step, ...]
    strategies: tuple[StrategyPlan, ...]

    def lines(self) -> list[str]:
        """The whole plan as a shell script, one command per line, in order."""
        parts = [(*part.steps, *part.teardown) for part in self.strategies]
        return [step.render() for step in self.prologue + sum(parts, ())]


def compose(args: str, *profiles: str) -> tuple[str, ...]:
    """`docker compose [--profile P]... ARGS`; ARGS is split on spaces, so no host paths."""
    return ("docker", "compose", *[f for p in profiles for f in ("--profile", p)], *args.split())


def shown(path: Path) -> Path:
    """A host path as the plan shows it: relative to the repository root when inside it."""
    path = path.resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def compose_plan(config: RunConfig, run_dir: Path, uid: int, gid: int) -> Plan:
    """Every command of a compose run, in order; `uid:gid` owns the files containers write."""
    parts = tuple(strategy_plan(config, s, run_dir) for s in config.strategies)
    return Plan(prologue(config, run_dir, uid, gid), parts)


def prologue(config: RunConfig, run_dir: Path, uid: int, gid: int) -> tuple[Step, ...]:
    """What a run does once, before its first strategy."""
    host, results = RunFolder(shown(run_dir)), shown(run_dir.parent)
    mount = str(results) if results.is_absolute() else f"./{results}"  # bare: a volume name
    layout = [host.requests, host.probe, host.locust, *(host.logs(s) for s in config.strategies)]
    env = [f"COMPOSE_PROJECT_NAME={PROJECT}", f"BENCH_RESULTS={mount}"]
    return (
        Step(("cd", str(ROOT)), "compose.yaml and the relative paths below are the repository's"),
        Step(("export", *env, f"BENCH_UID={uid}", f"BENCH_GID={gid}"), "containers write as you"),
        Step(("mkdir", "-p", *map(str, layout)), "the run folder's layout"),
        Step(compose("build harness"), "one image for app, Locust, probe and harness: this code"),
        Step(compose("down -v --remove-orphans", *PROFILES), "nothing left from an earlier run"),
    )


def strategy_plan(config: RunConfig, strategy: str, run_dir: Path) -> StrategyPlan:
    """One strategy's steps. Replicas are addressed by container name, one URL each: the
    service name alone (`http://app-delete:8000`) would spread the load by DNS round robin
    per connection, not per request, and the probe must reach every replica."""
    inside = RunFolder(Path(RESULTS_INSIDE) / run_dir.name)  # the run folder in a container
    service, workers = f"app-{strategy}", config.locust_workers
    logs = RunFolder(shown(run_dir)).logs(strategy)
    replicas = [
        Replica(f"{strategy}-{i}", f"http://{PROJECT}-{service}-{i}:{APP_PORT}")
        for i in range(1, config.replicas + 1)
    ]  # names as the local runtime's; fmt: skip
    urls = [r.url for r in replicas]
    probe_ids = SeedPlan(config.products, config.categories).probe_ids
    lag = config.effective_origin_lag_ms
    lagging = () if lag is None else (REPLICA_PROFILE,)  # the profile of its replica
    env = {"CACHE_TTL": config.ttl_s, "ORIGIN_DELAY_MS": config.effective_origin_delay_ms,
           **({"FAULT_CONTROL": 1} if config.fault_control
              else {}),
           **({} if lag is None else {"ORIGIN_LAG_MS": f"{lag:g}", "DATABASE_READ_URL": READ_URL}),
           **config.option_env(strategy),
           "BENCH_SCENARIO": config.scenario,
           **load_env(config, strategy, urls, inside.path)}  # fmt: skip
    run = "run --rm -T --no-deps"  # one-off containers; what they need is already up
    probe = f"{PROJECT}-probe-{strategy}"
    seed = (f"--database-url {DATABASE_URL} --products {config.products}"
            f" --categories {config.categories}")  # fmt: skip
    verify = " ".join(verify_options(strategy, replicas, probe_ids[-1]))
    out = str(inside.probe_file(strategy))
    probe_args = " ".join(probe_options(config, strategy, replicas, probe_ids[:-1], out))
    lead = " ".join(["locust", *locust_lead(
        config, f"scenarios/{config.scenario}.py", urls[0], str(inside.locust_prefix(strategy)),
        workers_wait_s=WORKERS_WAIT_S)])  # fmt: skip
    # --service-ports: a compose.override.yaml may publish 5557 for remote workers
    master = "--use-aliases --service-ports locust-master" if workers else "locust-master"
    steps = [
        Step(("export", *[f"{k}={v}" for k, v in env.items()]), f"what {strategy} runs with"),
        Step(compose("up -d --wait redis postgres"), "a clean Redis and origin, both healthy"),
        Step(compose(f"{run} harness python -m bench seed {seed}"), "fill the origin first"),
        *replica_steps(lag),
        Step(compose(f"up -d --wait --scale {service}={config.replicas}", strategy),
             "the replicas, healthy, reaching Redis and (pubsub) subscribed"),
        Step(compose(f"ps {service}", strategy), "the replicas' container names",
             log=logs / "containers.txt"),
        Step(compose(f"{run} harness python -m bench.runtime.verify {verify}"),
             "a strategy that breaks its promise is reported, not measured",
             log=logs / "verify.log", verifies=True),
    ]  # fmt: skip
    if workers:
        scale = f"up -d --no-deps --scale locust-worker={workers} locust-worker"
        steps.append(
            Step(compose(scale, "load"), f"{workers} Locust workers, waiting for a master")
        )
    steps += [
        Step(compose(f"{run} --name {probe} probe python -m bench.probe {probe_args}"),
             "the probe, beside the load, on probe-only products",
             log=logs / "probe.log", background=True),
        *fault_steps(config, strategy, logs),
        Step(compose(f"{run} {master} {lead}"), "the load; returns when its run time is up",
             log=logs / ("locust-master.log" if workers else "locust.log")),
        Step(("docker", "stop", "-t", "10", probe), "the probe writes its last cycle",
             check=False),  # it may have finished, and gone, already
        Step(("wait",), "for the probe", check=False),
    ]  # fmt: skip
    sources = [("redis", "redis-server"), ("postgres", "postgres")]
    sources += [("postgres-replica", "postgres-replica")] if lagging else []
    sources += [(service, "replicas")]
    sources += [("locust-worker", "locust-workers")] if workers else []
    teardown = [
        Step(compose(f"logs --no-color --timestamps {name}", strategy, "load", *lagging),
             f"collect {name}'s log", log=logs / f"{file}.log", check=False)
        for name, file in sources
    ]  # fmt: skip
    teardown.append(Step(compose("down -v --remove-orphans", strategy, "load", *lagging),
                         "every container and the origin's volume, gone", check=False))  # fmt: skip
    pairs = tuple((r.name, r.url) for r in replicas)
    return StrategyPlan(strategy, pairs, tuple(steps), tuple(teardown), lagging=bool(lagging))


def replica_steps(lag_ms: float | None) -> list[Step]:
    """With a lag: the seeded origin's streaming replica, `lag_ms` behind, healthy before
    the replicas start (they read there: DATABASE_READ_URL)."""
    if lag_ms is None:
        return []
    return [
        Step(("docker", "compose", "exec", "-T", "postgres", "sh", "-c", ALLOW_REPLICATION),
             "the origin lets a standby stream from it"),
        Step(compose("up -d --wait postgres-replica", REPLICA_PROFILE),
             f"its base backup, seeded, as a hot standby applying each commit {lag_ms:g} ms"
             " late: the replicas read there"),
    ]  # fmt: skip


# PUT /_faults/<route> {"ms": MS} from inside a replica's container (FAULT_CONTROL=1)
_PUT = ("import json, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/"
        "_faults/%s', data=json.dumps({'ms': %s}).encode(), method='PUT',"
        " headers={'content-type': 'application/json'}), timeout=2).read()")  # fmt: skip
# the networks a container is on, read from the container when a partition starts (the
# project's network is not always `<project>_default`: podman-compose names it otherwise)
_NETWORKS = "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}"


class ComposeFaults:
    """The compose runtime's `FaultTarget`: each verb becomes the shell command that does
    it on Compose, collected for the fault's background script rather than run here. A
    partition disconnects the replica from its networks: a wider cut than the local
    runtime's proxy (the load and the probe lose that replica too)."""

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy
        self.commands: list[str] = []

    def take(self) -> str:
        """The commands the verbs called since the last take, as one shell line."""
        line, self.commands = " && ".join(self.commands), []
        return line

    def _container(self, replica: int) -> str:
        return f"{PROJECT}-app-{self.strategy}-{replica}"

    def _every_replica(self, route: str, ms: float) -> None:
        # every container of the service, listed when the command runs
        self.commands.append(f"for c in $(docker compose ps -q app-{self.strategy}); do"
                             f' docker exec $c python -c "{_PUT % (route, ms)}"; done')  # fmt: skip

    def kill_redis(self) -> None:
        self.commands.append("docker compose kill -s SIGKILL redis")

    def restart_redis(self) -> None:
        self.commands.append("docker compose start redis")

    def pause_redis(self) -> None:
        self.commands.append("docker compose pause redis")

    def resume_redis(self) -> None:
        self.commands.append("docker compose unpause redis")

    def drop_subscribers(self) -> None:
        self.commands.append("docker compose exec -T redis redis-cli CLIENT KILL TYPE pubsub")

    def cut_link(self, replica: int) -> None:
        container = self._container(replica)
        self.commands.append(f"nets=$(docker inspect -f '{_NETWORKS}' {container})"
                             f" && for n in $nets; do docker network disconnect $n {container};"
                             " done")  # fmt: skip

    def restore_link(self, replica: int) -> None:
        container = self._container(replica)
        self.commands.append(f"for n in $nets; do docker network connect $n {container}; done")

    def kill_replica(self, replica: int) -> None:
        self.commands.append(f"docker kill -s SIGKILL {self._container(replica)}")

    def restart_replica(self, replica: int) -> None:
        self.commands.append(f"docker start {self._container(replica)}")

    def pause_replica(self, replica: int) -> None:
        self.commands.append(f"docker pause {self._container(replica)}")

    def resume_replica(self, replica: int) -> None:
        self.commands.append(f"docker unpause {self._container(replica)}")

    def slow_origin(self, extra_ms: float) -> None:
        self._every_replica("origin-delay", extra_ms)

    def delay_subscribers(self, ms: float) -> None:
        self._every_replica("subscriber-delay", ms)


def fault_commands(fault: Fault, strategy: str) -> tuple[str, str | None]:
    """What a fault does on Compose, as shell commands: its start, and its end if it lasts,
    from the kind's own record (`bench.faults.kinds`) through `ComposeFaults`."""
    target, kind, arg = ComposeFaults(strategy), fault.kind_of, fault.arg or 0
    kind.start(target, arg)
    start = target.take()
    if kind.end is None:
        return start, None
    kind.end(target, arg)
    return start, target.take()


def fault_steps(config: RunConfig, strategy: str, logs: Path) -> list[Step]:
    """Each fault as a background shell beside the load: it sleeps until AT, applies the
    fault, sleeps FOR, ends it, and logs when (ns) and whether each command worked, which
    the runtime reads back into faults.csv."""
    steps = []
    for index, fault in enumerate(config.faults, 1):
        if not fault.kind_of.applies(STRATEGIES[strategy]):
            continue
        start, end = fault_commands(fault, strategy)
        script = f"sleep {fault.at_s:g}; echo start $(date +%s%N); {start} && echo started"
        if end is not None:
            script += f"; sleep {fault.for_s:g}; echo end $(date +%s%N); {end} && echo ended"
        log = logs / f"fault-{index}.log"
        why = f"fault {fault.spec}, at its time"
        steps.append(Step(("sh", "-c", script), why, log=log, background=True, check=False))
    return steps
