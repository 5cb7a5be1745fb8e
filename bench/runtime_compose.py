"""The compose runtime: the local runtime's experiment, on Docker Compose.

Per strategy, as locally: a clean Redis, a freshly seeded origin (PostgreSQL here), N
replicas, verify, the Locust load beside the probe, then `down -v`, so the next strategy
starts from nothing. The raw files land in the same run-folder layout through compose.yaml's
bind mount, and the same analysis and report follow. The commands are data first:
`compose_plan` is a pure function, `--dry-run` prints it, and `execute` runs the same steps
as a shell runs the printed lines. CI has a docker client but no engine: the tests check
compose.yaml, the plan and the no-engine error, and run `execute` against a stand-in
`docker` that records its calls. Nothing here has run against a real engine yet.
"""

import contextlib
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.load import STOP_TIMEOUT_S, load_env
from bench.manifest import Manifest, create_run_folder, utc_now
from bench.run_config import RunConfig
from bench.seed import SeedPlan
from bench.verify import VERIFY_FAILED
from services.config import STRATEGY_NAMES

if TYPE_CHECKING:  # bench.experiment pulls in pandas; the dry run and tests do without
    from bench.experiment import RunOutcome

PROJECT = "cache-invalidation-bench"  # COMPOSE_PROJECT_NAME: container names are predictable
ROOT = Path(__file__).resolve().parent.parent  # where compose.yaml is
PROFILES = (*STRATEGY_NAMES, "load", "tools")
DATABASE_URL = "postgresql://bench:bench@postgres:5432/bench"  # compose.yaml's postgres
RESULTS_INSIDE = "/results"  # where compose.yaml mounts BENCH_RESULTS
APP_PORT = 8000
DOCKER_TIMEOUT_S = 10  # `docker version` must not hang the CLI when the engine is wedged


class ComposeUnavailable(Exception):
    """No Docker engine or no Compose v2; the message is one line saying which."""


class StepFailed(Exception):
    """A command of the plan exited non-zero; the message names it and its log."""


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
    steps: tuple[Step, ...]  # start, seed, verify, load and probe
    teardown: tuple[Step, ...]  # collect the logs, down -v: also after a failure or Ctrl-C


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
    host_dir, results = shown(run_dir), shown(run_dir.parent)
    mount = str(results) if results.is_absolute() else f"./{results}"  # bare: a volume name
    layout = ["requests", "probe", "locust", *(f"logs/{s}" for s in config.strategies)]
    env = [f"COMPOSE_PROJECT_NAME={PROJECT}", f"BENCH_RESULTS={mount}"]
    prologue = (
        Step(("cd", str(ROOT)), "compose.yaml and the relative paths below are the repository's"),
        Step(("export", *env, f"BENCH_UID={uid}", f"BENCH_GID={gid}"), "containers write as you"),
        Step(("mkdir", "-p", *[str(host_dir / d) for d in layout]), "the run folder's layout"),
        Step(compose("build harness"), "one image for app, Locust, probe and harness: this code"),
        Step(compose("down -v --remove-orphans", *PROFILES), "nothing left from an earlier run"),
    )
    inside = f"{RESULTS_INSIDE}/{run_dir.name}"
    parts = tuple(strategy_plan(config, s, host_dir, inside) for s in config.strategies)
    return Plan(prologue, parts)


def strategy_plan(config: RunConfig, strategy: str, host_dir: Path, inside: str) -> StrategyPlan:
    """One strategy's steps. Replicas are addressed by container name, one URL each: the
    service name alone (`http://app-delete:8000`) would spread the load by DNS round robin
    per connection, not per request, and the probe must reach every replica."""
    service, workers, logs = f"app-{strategy}", config.locust_workers, host_dir / "logs" / strategy
    names = [f"{strategy}-{i}" for i in range(1, config.replicas + 1)]  # as the local runtime's
    urls = [f"http://{PROJECT}-{service}-{i}:{APP_PORT}" for i in range(1, config.replicas + 1)]
    probe_ids = SeedPlan(config.products, config.categories).probe_ids
    env = {"CACHE_TTL": config.ttl_s, "ORIGIN_DELAY_MS": config.effective_origin_delay_ms,
           "BENCH_SCENARIO": config.scenario,
           **load_env(config, strategy, urls, Path(inside))}  # fmt: skip
    run = "run --rm -T --no-deps"  # one-off containers; what they need is already up
    probe = f"{PROJECT}-probe-{strategy}"
    seed = (f"--database-url {DATABASE_URL} --products {config.products}"
            f" --categories {config.categories}")  # fmt: skip
    verify = f"--strategy {strategy} --targets {','.join(urls)} --product {probe_ids[-1]}"
    probe_args = (f"--targets {','.join(urls)} --names {','.join(names)} --strategy {strategy}"
                  f" --keys {','.join(map(str, probe_ids[:-1]))} --poll-ms {config.poll_ms}"
                  f" --out {inside}/probe/{strategy}.csv --ttl {config.ttl_s}"
                  f" --duration {config.duration_s}")  # fmt: skip
    # bench.load.locust_argv's options, with the container's paths; containers start slower
    # than processes, so the master waits longer for its workers.
    lead = (f"locust -f scenarios/{config.scenario}.py --loglevel WARNING --headless"
            f" --host {urls[0]} -u {config.users} -r {config.users}"
            f" --run-time {int(config.duration_s)}s --stop-timeout {STOP_TIMEOUT_S}"
            f" --csv {inside}/locust/{strategy} --only-summary --exit-code-on-error 0")  # fmt: skip
    master = "locust-master"
    if workers:  # --service-ports: a compose.override.yaml may publish 5557 for remote workers
        lead += f" --master --expect-workers {workers} --expect-workers-max-wait 60"
        master = f"--use-aliases --service-ports {master}"
    steps = [
        Step(("export", *[f"{k}={v}" for k, v in env.items()]), f"what {strategy} runs with"),
        Step(compose("up -d --wait redis postgres"), "a clean Redis and origin, both healthy"),
        Step(compose(f"{run} harness python -m bench seed {seed}"), "fill the origin first"),
        Step(compose(f"up -d --wait --scale {service}={config.replicas}", strategy),
             "the replicas, healthy, reaching Redis and (pubsub) subscribed"),
        Step(compose(f"ps {service}", strategy), "the replicas' container names",
             log=logs / "containers.txt"),
        Step(compose(f"{run} harness python -m bench.verify {verify}"),
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
        Step(compose(f"{run} {master} {lead}"), "the load; returns when its run time is up",
             log=logs / ("locust-master.log" if workers else "locust.log")),
        Step(("docker", "stop", "-t", "10", probe), "the probe writes its last cycle",
             check=False),  # it may have finished, and gone, already
        Step(("wait",), "for the probe", check=False),
    ]  # fmt: skip
    sources = [("redis", "redis-server"), ("postgres", "postgres"), (service, "replicas")]
    sources += [("locust-worker", "locust-workers")] if workers else []
    teardown = [
        Step(compose(f"logs --no-color --timestamps {name}", strategy, "load"),
             f"collect {name}'s log", log=logs / f"{file}.log", check=False)
        for name, file in sources
    ]  # fmt: skip
    teardown.append(Step(compose("down -v --remove-orphans", strategy, "load"),
                         "every container and the origin's volume, gone", check=False))  # fmt: skip
    return StrategyPlan(
        strategy, tuple(zip(names, urls, strict=True)), tuple(steps), tuple(teardown)
    )


def check_engine() -> dict[str, str]:
    """The engine's and Compose's versions, or ComposeUnavailable with one line."""
    versions = {}
    for what, need, args in [
        ("engine", "a running Docker engine", "version --format {{.Server.Version}}"),
        ("compose", "Docker Compose v2", "compose version --short"),
    ]:
        try:
            done = subprocess.run(["docker", *args.split()], capture_output=True, text=True,
                                  timeout=DOCKER_TIMEOUT_S, stdin=subprocess.DEVNULL)  # fmt: skip
            said = [line.strip() for line in (done.stderr + done.stdout).splitlines()]
            answer = done.stdout.strip() if done.returncode == 0 else ""
        except FileNotFoundError:
            said, answer = ["no docker CLI on PATH"], ""
        except subprocess.TimeoutExpired:
            said, answer = [f"no answer within {DOCKER_TIMEOUT_S} s"], ""
        if not answer:
            last = [line for line in said if line][-1:] or ["failed"]
            command = f"docker {args.split()[0]}"
            raise ComposeUnavailable(f"--runtime compose needs {need}; {command}: {last[0]}")
        versions[what] = answer
    return versions


class Shell:
    """Runs plan steps the way a shell runs their rendered lines."""

    def __init__(self) -> None:
        self.cwd, self.env = ROOT, dict(os.environ)
        self.background: list[subprocess.Popen[bytes]] = []

    def run(self, step: Step) -> int:
        print(f"$ {step.render()}", file=sys.stderr, flush=True)
        head = step.argv[0]
        if head == "cd":
            self.cwd = Path(step.argv[1])
            return 0
        if head == "export":
            self.env.update(item.split("=", 1) for item in step.argv[1:])
            return 0
        if head == "wait":
            codes = [proc.wait() for proc in self.background]
            self.background.clear()
            return max(codes, default=0)
        out = (self.cwd / step.log).open("wb") if step.log is not None else None
        with out or contextlib.nullcontext():  # the child keeps its own descriptor
            proc = subprocess.Popen(step.argv, cwd=self.cwd, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT if out else None,
                                    stdin=subprocess.DEVNULL)  # fmt: skip
        if step.background:
            self.background.append(proc)
            return 0
        code = proc.wait()
        if code and step.check and not (step.verifies and code == VERIFY_FAILED):
            where = f"; see {step.log}" if step.log is not None else ""
            raise StepFailed(f"`{shlex.join(step.argv[:5])} ...` exited with {code}{where}")
        return code


def measure(shell: Shell, part: StrategyPlan, folder: Path, manifest: Manifest) -> None:
    """One strategy's steps, then its teardown whatever happened; the manifest says how."""
    from bench.experiment import console, count_rows

    record = manifest.strategy(part.strategy)
    replicas = [{"name": name, "url": url} for name, url in part.replicas]
    record.update(status="starting", started_at=utc_now(), replicas=replicas)
    manifest.save()
    before = set((folder / "requests").glob("*.csv"))
    try:
        for step in part.steps:
            code = shell.run(step)
            if step.verifies and code == VERIFY_FAILED:
                said = (shell.cwd / step.log).read_text().strip() if step.log else ""
                reason = said.splitlines()[-1] if said else "failed verification"
                record.update(status="failed_verify", reason=reason, ended_at=utc_now())
                console.print(f"[red]{part.strategy}: failed verification:[/] {reason}")
                return
            if step.verifies:
                record["status"] = "running"
                manifest.save()
    finally:
        manifest.save()
        for step in part.teardown:
            shell.run(step)
    rows = count_rows(set((folder / "requests").glob("*.csv")) - before)
    record.update(status="complete", ended_at=utc_now(), locust_exit_code=0, rows_recorded=rows)
    manifest.save()
    console.print(f"{part.strategy}: {rows} requests recorded")


def execute(config: RunConfig) -> "RunOutcome":
    """The run itself: the local runtime's manifest, statuses, exit codes and report."""
    from bench.experiment import RunOutcome, analyse_and_report, console

    versions = check_engine()  # before the run folder: no engine, no folder
    folder = create_run_folder(config.results, config.scenario)
    manifest = Manifest(folder, config.as_json())
    manifest.data.update(compose={"project": PROJECT, **versions}, redis_server="redis:7-alpine")
    manifest.save()
    plan = compose_plan(config, folder, os.getuid(), os.getgid())
    shell = Shell()
    try:
        for step in plan.prologue:
            shell.run(step)
        for part in plan.strategies:
            measure(shell, part, folder, manifest)
    except KeyboardInterrupt:
        manifest.finish("interrupted", "stopped by Ctrl-C (SIGINT) or SIGTERM")
        return RunOutcome(folder, "interrupted", 130)
    except (StepFailed, OSError) as exc:
        manifest.finish("failed", str(exc))
        console.print(f"[red]run failed:[/] {exc}")
        return RunOutcome(folder, "failed", 1)
    failed = [s for s, r in manifest.data["strategies"].items() if r["status"] != "complete"]
    manifest.finish("complete", f"failed verification: {', '.join(failed)}" if failed else None)
    analyse_and_report(folder)
    return RunOutcome(folder, "complete", 0)


def run_compose(config: RunConfig, dry_run: bool = False) -> int:
    """`bench run --runtime compose`: print the plan (--dry-run), or run it."""
    if dry_run:  # the run folder's name if the run started now; nothing is created
        run_dir = config.results / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{config.scenario}"
        print("\n".join(compose_plan(config, run_dir, os.getuid(), os.getgid()).lines()))
        return 0
    outcome = execute(config)
    print(f"results: {outcome.folder} ({outcome.status})")
    return outcome.exit_code
