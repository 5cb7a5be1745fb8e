"""The compose runtime where there is no Docker engine: compose.yaml (parsed, and validated
by Debian's docker-compose), the command plan, the step runner and the no-engine error.
The executor against a real engine is not exercised here."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from bench.experiment import measure_strategy
from bench.faults.spec import parse_fault
from bench.layout import RunFolder
from bench.manifest import Manifest
from bench.matrix import SweepConfig, expand_matrix
from bench.run_config import ConfigError, RunConfig
from bench.runtime import verify as verify_module
from bench.runtime.commands import load_env
from bench.runtime.compose import Shell, StepFailed, deployment
from bench.runtime.compose.plan import (
    APP_PORT,
    DATABASE_URL,
    PROFILES,
    PROJECT,
    READ_URL,
    REPLICA_PROFILE,
    RESULTS_INSIDE,
    ROOT,
    Step,
    StrategyPlan,
    compose_plan,
)
from bench.runtime.verify import VERIFY_FAILED
from scenarios.request_rows import HEADER, format_row
from services.strategies import STRATEGIES, STRATEGY_NAMES, Option

COMPOSE_FILE = ROOT / "compose.yaml"
RUN = "20250101T000000Z-read_mostly"
RUN_DIR = ROOT / "results" / RUN
TOOLS = ("locust-master", "locust-worker", "probe", "harness")


def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the variables compose.yaml interpolates, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "COMPOSE_"))}
    env.pop("REPLICAS", None)
    return {**env, **extra}


def docker_compose_v1() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose must be installed in CI (.ci/run installs it)")
        pytest.skip("no docker-compose to validate compose.yaml with")
    return path


# compose.yaml, validated by a Compose implementation


@pytest.mark.parametrize("profiles", [(), *[(p,) for p in PROFILES], PROFILES])
def test_docker_compose_accepts_every_profile(profiles: tuple[str, ...]) -> None:
    flags = [f for p in profiles for f in ("--profile", p)]
    argv = [docker_compose_v1(), "-f", str(COMPOSE_FILE), *flags, "config", "-q"]
    done = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("env", "replicas"), [({}, 3), ({"REPLICAS": "5"}, 5)])
def test_replicas_come_from_the_environment(env: dict[str, str], replicas: int) -> None:
    argv = [docker_compose_v1(), "-f", str(COMPOSE_FILE), "--profile", "delete", "config"]
    done = subprocess.run(argv, capture_output=True, text=True, env=clean_env(**env), timeout=60)
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)["services"]
    assert all(rendered[f"app-{s}"]["deploy"]["replicas"] == replicas for s in STRATEGY_NAMES)


def test_compose_v2_accepts_it_when_installed() -> None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no Compose v2 plugin here (`docker compose`)")
    argv = ["docker", "compose", "-f", str(COMPOSE_FILE), "--profile", "delete", "config", "-q"]
    done = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=60)
    assert done.returncode == 0, done.stderr


# compose.yaml, what matters in it


def test_every_strategy_has_one_app_service_differing_only_in_cache_strategy() -> None:
    apps = {name: svc for name, svc in services().items() if name.startswith("app-")}
    assert sorted(apps) == sorted(f"app-{s}" for s in STRATEGY_NAMES)
    normalised = []
    for strategy in STRATEGY_NAMES:
        service = dict(apps[f"app-{strategy}"])
        environment = dict(service.pop("environment"))
        assert environment.pop("CACHE_STRATEGY") == strategy
        assert service.pop("profiles") == [strategy]  # a profile per strategy, named for it
        normalised.append({**service, "environment": environment})
    assert all(other == normalised[0] for other in normalised[1:])


def test_the_replicas_follow_the_service_contract() -> None:
    app = services()["app-delete"]
    env = app["environment"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DATABASE_URL"] == DATABASE_URL  # the plan seeds what the replicas read
    assert "REPLICA_NAME" not in env  # each replica answers with its hostname
    assert app["command"] == ["python", "-m", "services", "--bind", f"0.0.0.0:{APP_PORT}"]
    assert app["deploy"]["replicas"] == "${REPLICAS:-3}"
    assert app["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }


def test_nothing_is_published_and_every_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        assert "ports" not in service, f"{name} publishes a port"
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD" and not service["healthcheck"].get("disable"), name
        for dependency in service.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}, name
    assert services()["redis"]["command"][:4] == ["redis-server", "--save", "", "--appendonly"]


def test_every_python_healthcheck_compiles() -> None:
    """A typo in a healthcheck would only show as a service that never turns healthy."""
    dockerfile = (ROOT / "services" / "Dockerfile").read_text()
    image_check = json.loads(re.search(r"HEALTHCHECK .*?CMD (\[[^\n]*\])", dockerfile, re.S)[1])
    checks = [image_check] + [s["healthcheck"]["test"][1:] for s in services().values()]
    python = [check for check in checks if check[:2] == ["python", "-c"]]
    # all but redis, postgres and postgres-replica, and the image's
    assert len(python) == len(services()) - 3 + 1
    for check in python:
        compile(check[2], "healthcheck", "exec")
    assert image_check[2] == services()["app-delete"]["healthcheck"]["test"][3]


def test_the_origin_s_replica_is_a_lagging_standby_of_it_and_only_read_when_asked() -> None:
    replica, origin = services()["postgres-replica"], services()["postgres"]
    assert replica["image"] == origin["image"] and replica["profiles"] == [REPLICA_PROFILE]
    assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert replica["user"] == "postgres" and "volumes" not in replica  # fresh per strategy
    [script] = replica["entrypoint"][2:]
    assert "pg_basebackup -h postgres -U bench" in script and " -R " in script
    assert "recovery_min_apply_delay=${ORIGIN_LAG_MS:-200}ms" in script
    assert "-c hot_standby=on" in script and "exec postgres -D " in script
    assert READ_URL.split("@")[1].startswith("postgres-replica:5432/")
    # passed through from the harness's shell: set for a lagging run, else left unset
    assert services()["app-delete"]["environment"]["DATABASE_READ_URL"] is None


def test_the_replica_s_lag_is_what_the_harness_exports() -> None:
    argv = [docker_compose_v1(), "-f", str(COMPOSE_FILE), "--profile", REPLICA_PROFILE, "config"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env=clean_env(ORIGIN_LAG_MS="300"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    [script] = yaml.safe_load(done.stdout)["services"]["postgres-replica"]["entrypoint"][2:]
    assert "recovery_min_apply_delay=300ms" in script


def test_load_probe_and_harness_write_into_results_through_a_bind_mount() -> None:
    for name in TOOLS:
        service = services()[name]
        assert service["volumes"] == [f"${{BENCH_RESULTS:-./results}}:{RESULTS_INSIDE}"], name
        assert set(load_env(RunConfig(), "delete", ["x"], Path("r"))) <= set(service["environment"])
    assert services()["locust-worker"]["depends_on"] == {
        "locust-master": {"condition": "service_healthy"}
    }


def test_the_image_is_slim_non_root_and_healthchecked() -> None:
    dockerfile = (ROOT / "services" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^USER bench$", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.M)
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "results"} <= set(ignored)


# the command plan


def commands(config: RunConfig, run_dir: Path = RUN_DIR) -> list[str]:
    """The plan's lines without their `# why`."""
    return [line.split("  # ")[0] for line in compose_plan(config, run_dir, 1000, 1000).lines()]


def test_the_plan_runs_each_strategy_in_turn_in_order() -> None:
    config = RunConfig(strategies=("delete", "pubsub"), locust_workers=2, duration_s=30.0)
    lines = commands(config)
    targets = ",".join(f"http://{PROJECT}-app-delete-{i}:8000" for i in (1, 2, 3))
    logs = f"results/{RUN}/logs/delete"
    expected = [
        "docker compose up -d --wait redis postgres",
        f"docker compose run --rm -T --no-deps harness python -m bench seed --database-url"
        f" {DATABASE_URL} --products 1000 --categories 10",
        "docker compose --profile delete up -d --wait --scale app-delete=3",
        f"docker compose --profile delete ps app-delete > {logs}/containers.txt 2>&1",
        "docker compose run --rm -T --no-deps harness python -m bench.runtime.verify"
        f" --strategy delete --targets {targets} --product 1016 > {logs}/verify.log 2>&1",
        "docker compose --profile load up -d --no-deps --scale locust-worker=2 locust-worker",
        f"docker compose run --rm -T --no-deps --name {PROJECT}-probe-delete probe"
        f" python -m bench.probe --targets {targets} --name delete-1 --name delete-2"
        " --name delete-3"
        f" --strategy delete --keys {','.join(map(str, range(1001, 1016)))} --poll-ms 2.0"
        f" --out /results/{RUN}/probe/delete.csv --ttl 30.0 --duration 30.0"
        f" > {logs}/probe.log 2>&1 &",
        "docker compose run --rm -T --no-deps --use-aliases --service-ports locust-master"
        " locust -f scenarios/read_mostly.py --loglevel WARNING --headless"
        f" --host http://{PROJECT}-app-delete-1:8000 -u 20 -r 20 --run-time 30s"
        f" --stop-timeout 3 --csv /results/{RUN}/locust/delete"
        f" --json-file /results/{RUN}/locust/delete --only-summary"
        " --exit-code-on-error 0 --master --expect-workers 2 --expect-workers-max-wait 60"
        f" > {logs}/locust-master.log 2>&1",
        f"docker stop -t 10 {PROJECT}-probe-delete",
        "wait",
        "docker compose --profile delete --profile load logs --no-color --timestamps redis"
        f" > {logs}/redis-server.log 2>&1",
        "docker compose --profile delete --profile load logs --no-color --timestamps postgres"
        f" > {logs}/postgres.log 2>&1",
        "docker compose --profile delete --profile load logs --no-color --timestamps app-delete"
        f" > {logs}/replicas.log 2>&1",
        "docker compose --profile delete --profile load logs --no-color --timestamps"
        f" locust-worker > {logs}/locust-workers.log 2>&1",
        "docker compose --profile delete --profile load down -v --remove-orphans",
    ]
    start = lines.index(expected[0])
    assert lines[start : start + len(expected)] == expected
    assert lines[start - 1].startswith("export CACHE_TTL=30.0 ORIGIN_DELAY_MS=0.0 ")
    # the next strategy starts only after this one is down
    assert lines[start + len(expected)].startswith("export ")
    assert lines[start + len(expected) + 3] == (
        "docker compose --profile pubsub up -d --wait --scale app-pubsub=3"
    )
    assert lines[-1] == "docker compose --profile pubsub --profile load down -v --remove-orphans"


def test_the_plan_starts_from_nothing_and_exports_what_compose_interpolates() -> None:
    config = RunConfig(strategies=("ttl",), replicas=2, ttl_s=5, scenario="race")
    lines = commands(config)
    assert lines[:2] == [
        f"cd {ROOT}",
        f"export COMPOSE_PROJECT_NAME={PROJECT} BENCH_RESULTS=./results BENCH_UID=1000"
        " BENCH_GID=1000",
    ]
    assert lines[2].startswith(f"mkdir -p results/{RUN}/requests ")
    assert lines[3] == "docker compose build harness"
    assert lines[4] == f"docker compose {' '.join(f'--profile {p}' for p in PROFILES)} down -v" + (
        " --remove-orphans"
    )
    urls = [f"http://{PROJECT}-app-ttl-{i}:8000" for i in (1, 2)]
    exported = dict(item.split("=", 1) for item in lines[5].split()[1:])
    assert exported == {
        "CACHE_TTL": "5",
        "ORIGIN_DELAY_MS": "20.0",  # the race scenario's costly origin
        "BENCH_SCENARIO": "race",
        **load_env(config, "ttl", urls, Path(f"/results/{RUN}")),
    }


def test_with_a_lag_the_seeded_origin_gets_its_replica_before_the_app_reads_there() -> None:
    config = RunConfig(strategies=("delete",), runtime="compose", origin_lag_ms=250)
    lines = commands(config)
    exported = dict(item.split("=", 1) for item in lines[5].split()[1:])
    assert (exported["ORIGIN_LAG_MS"], exported["DATABASE_READ_URL"]) == ("250", READ_URL)
    seed = next(i for i, line in enumerate(lines) if " bench seed " in line)
    logs = f"results/{RUN}/logs/delete"
    profiles = f"--profile delete --profile load --profile {REPLICA_PROFILE}"
    assert lines[seed + 1 : seed + 4] == [
        'docker compose exec -T postgres sh -c \'echo "host replication all all scram-sha-256"'
        ' >> "$PGDATA/pg_hba.conf" && psql -q -U bench -d bench -c "SELECT pg_reload_conf()"\'',
        f"docker compose --profile {REPLICA_PROFILE} up -d --wait postgres-replica",
        "docker compose --profile delete up -d --wait --scale app-delete=3",
    ]
    assert f"docker compose {profiles} logs --no-color --timestamps postgres-replica" + (
        f" > {logs}/postgres-replica.log 2>&1") in lines  # fmt: skip
    assert lines[-1] == f"docker compose {profiles} down -v --remove-orphans"
    plain = "\n".join(commands(RunConfig(strategies=("delete",), runtime="compose")))
    assert "postgres-replica" not in plain and "DATABASE_READ_URL" not in plain
    assert "ORIGIN_LAG_MS=200" in "\n".join(
        commands(  # replica_lag's own lag
            RunConfig(strategies=("delete",), runtime="compose", scenario="replica_lag")
        )
    )


@pytest.mark.parametrize(
    ("given", "needle"),
    [({"runtime": "compose", "origin": "sqlite"}, "compose runtime's origin is PostgreSQL"),
     ({"runtime": "external", "targets": ("http://a:1",), "replicas": 1, "strategies": ("mine",),
       "probe_ids": (5000, 5001), "origin_lag_ms": 200.0}, "is the service's own")],
)  # fmt: skip
def test_an_origin_the_runtime_does_not_have_is_refused(given: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        RunConfig(**given)
    recorded = RunConfig(runtime="compose").as_json()
    assert (recorded["origin"], recorded["origin_lag_ms"]) == ("postgres", None)


def test_one_locust_process_without_workers() -> None:
    lines = commands(RunConfig(strategies=("delete",)))
    assert not [line for line in lines if "locust-worker" in line]
    [lead] = [line for line in lines if " locust-master " in line]
    assert "--master" not in lead.split() and "--use-aliases" not in lead
    assert lead.endswith(f"> results/{RUN}/logs/delete/locust.log 2>&1")


def test_results_outside_the_repository_are_mounted_by_absolute_path(tmp_path: Path) -> None:
    run_dir = tmp_path / "results" / RUN
    lines = commands(RunConfig(strategies=("delete",)), run_dir)
    assert f"BENCH_RESULTS={tmp_path / 'results'}" in lines[1]
    assert f"> {run_dir}/logs/delete/verify.log 2>&1" in "\n".join(lines)


def test_faults_run_beside_the_load_at_their_times() -> None:
    faults = (parse_fault("redis-partition@10+5:1"), parse_fault("subscriber-drop@20"))
    config = RunConfig(strategies=("delete", "pubsub"), duration_s=40.0, faults=faults)
    plan = compose_plan(config, RUN_DIR, 1000, 1000)
    for part, expected in zip(plan.strategies, (1, 2), strict=True):
        steps = [step for step in part.steps if step.why.startswith("fault ")]
        assert len(steps) == expected  # delete has no subscriber to drop
        assert all(step.background and not step.check for step in steps)
        load = next(i for i, step in enumerate(part.steps) if "locust-master" in step.argv)
        assert all(part.steps.index(step) < load for step in steps)
        cut = steps[0].argv[2]
        container = f"{PROJECT}-app-{part.strategy}-1"
        # the networks are read from the container, not assumed to be `<project>_default`
        assert cut.startswith("sleep 10; echo start $(date +%s%N); nets=$(docker inspect -f")
        assert f"docker network disconnect $n {container}; done && echo started" in cut
        assert (
            "sleep 5; echo end $(date +%s%N); for n in $nets; do docker network connect $n"
            f" {container}; done && echo ended" in cut
        )
    [drop] = [s.argv[2] for s in plan.strategies[1].steps if "subscriber-drop" in s.why]
    assert drop.endswith("docker compose exec -T redis redis-cli CLIENT KILL TYPE pubsub"
                         " && echo started")  # fmt: skip
    script = "\n".join(plan.lines())
    done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_execute_applies_faults_and_records_when(tmp_path: Path) -> None:
    done, folder = run_with_stand_in(tmp_path, "--fault", "redis-kill@0.2+0.3")
    assert done.returncode == 0, done.stderr
    faults = pd.read_csv(folder / "faults.csv")
    assert faults["strategy"].tolist() == ["delete", "pubsub"]
    assert (faults["status"] == "applied").all()
    took_s = (faults["ended_ns"] - faults["started_ns"]) / 1e9
    assert (took_s >= 0.25).all()  # slept FOR between the two, as the script says
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls.count("compose kill -s SIGKILL redis") == calls.count("compose start redis") == 2


def test_the_plan_is_a_valid_shell_script() -> None:
    config = RunConfig(strategies=STRATEGY_NAMES, locust_workers=3)
    script = "\n".join(compose_plan(config, RUN_DIR, 1000, 1000).lines())
    done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# the command line


def bench_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "run", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip


def test_dry_run_prints_the_plan_and_creates_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = bench_run("--runtime", "compose", "--dry-run", "--strategies", "delete,pubsub",
                     "--results", str(results))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    [run_name] = set(re.findall(r"/results/(\d{8}T\d{6}Z-read_mostly)/", done.stdout))
    config = RunConfig(strategies=("delete", "pubsub"), results=results)
    assert lines == compose_plan(config, results / run_name, os.getuid(), os.getgid()).lines()
    assert not results.exists()


def test_dry_run_prints_the_lagging_origin_s_plan(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = bench_run("--runtime", "compose", "--dry-run", "--strategies", "guarded",
                     "--origin-lag-ms", "200", "--results", str(results))  # fmt: skip
    assert done.returncode == 0, done.stderr
    [run_name] = set(re.findall(r"/results/(\d{8}T\d{6}Z-read_mostly)/", done.stdout))
    config = RunConfig(strategies=("guarded",), results=results, runtime="compose",
                       origin_lag_ms=200)  # fmt: skip
    plan = compose_plan(config, results / run_name, os.getuid(), os.getgid()).lines()
    assert done.stdout.splitlines() == plan
    assert "up -d --wait postgres-replica" in done.stdout and not results.exists()


def test_a_sweep_dry_run_prints_each_cells_plan_and_creates_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "sweep", "--runtime", "compose", "--dry-run",
         "--strategies", "delete,pubsub", "--ttls", "1,5", "--replicas", "2",
         "--results", str(results)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [sweep_name] = set(re.findall(r"/results/(\d{8}T\d{6}Z-sweep-read_mostly)/", done.stdout))
    base = RunConfig(strategies=("delete", "pubsub"), duration_s=20.0, runtime="compose",
                     results=results)  # fmt: skip
    sweep = SweepConfig(base, (1.0, 5.0), (2,))
    expected = []
    for number, cell in enumerate(expand_matrix(sweep), 1):
        expected.append(f"# cell {number}/4: {cell.label}")
        cell_dir = results / sweep_name / "cells" / cell.id
        config = sweep.cell_config(cell, results / sweep_name)
        expected += compose_plan(config, cell_dir, os.getuid(), os.getgid()).lines()
    assert done.stdout.splitlines() == expected
    assert "--scale app-pubsub=2" in done.stdout and "CACHE_TTL=5.0" in done.stdout
    assert not results.exists()


def test_dry_run_is_refused_for_the_local_runtime(tmp_path: Path) -> None:
    done = bench_run("--dry-run", "--results", str(tmp_path / "results"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--dry-run" in done.stderr
    assert not (tmp_path / "results").exists()


def fake_docker(bin_dir: Path, script: str) -> dict[str, str]:
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / "docker").chmod(0o755)
    return {**os.environ, "PATH": str(bin_dir)}


@pytest.mark.parametrize(
    ("env_for", "says"),
    [
        (lambda tmp: {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}, "Docker engine"),
        (lambda tmp: {**os.environ, "PATH": str(tmp / "empty")}, "no docker CLI on PATH"),
        (lambda tmp: fake_docker(tmp / "bin", 'test "$1" = version && echo 27.3.1 || exit 1'),
         "needs Docker Compose v2; docker compose"),
    ],
    ids=["no-engine", "no-cli", "no-compose-v2"],
)  # fmt: skip
def test_without_docker_it_stops_at_once_with_one_line(
    tmp_path: Path, env_for: Any, says: str
) -> None:
    results = tmp_path / "results"
    done = bench_run("--runtime", "compose", "--results", str(results), env=env_for(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert done.stdout == ""
    assert not results.exists(), "it must not pretend to have run"


# the executor, end to end, with a stand-in `docker` that records what it is asked to do

# The load's one row per strategy (a load that records none fails), into the run folder
# the `--csv /results/RUN/locust/STRATEGY` of its command names, under $RESULTS.
STAND_IN = """#!/bin/sh
printf '%s\\n' "$*" >> "$CALLS"
case "$*" in
  "version --format"*) echo 28.2.2 ;;
  "compose version --short") echo 2.29.7 ;;
  *" bench.runtime.verify --strategy $FAIL_VERIFY "*)
    echo "$FAIL_VERIFY: replica 2 served v1"; exit 3 ;;
  *"$FAIL_ON"*) exit 1 ;;
  *" locust-master locust "*)
    run_strategy='s|.* --csv /results/\\([^ ]*\\)/locust/\\([^ ]*\\) .*|\\1 \\2|'
    set -- $(printf '%s\\n' "$*" | sed "$run_strategy")
    mkdir -p "$RESULTS/$1/requests"
    printf '%s%s%s' "$HEADER" "$2" "$ROW" > "$RESULTS/$1/requests/stand-in-$2.csv" ;;
esac
"""
ROW = format_row("", "read", "1", 1_700_000_000_000_000_000, 1_700_000_000_001_000_000, 1.0, 200,
                 "1", "", "miss", "r1", "stand-in")  # fmt: skip


def run_with_stand_in(
    tmp_path: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STAND_IN)
    (bin_dir / "docker").chmod(0o755)
    env = {"FAIL_VERIFY": "none", "FAIL_ON": "no such command", **env}
    path = f"{bin_dir}:{os.environ['PATH']}"
    done = bench_run(
        "--runtime", "compose", "--strategies", "delete,pubsub", "--duration", "1",
        "--results", str(tmp_path / "results"), *args,
        env={**os.environ, "PATH": path, "CALLS": str(tmp_path / "calls"), **env,
             "RESULTS": str(tmp_path / "results"), "HEADER": HEADER, "ROW": ROW},
    )  # fmt: skip
    [folder] = (tmp_path / "results").iterdir()
    return done, folder


@pytest.mark.slow  # seconds of real processes: make test runs it, test-fast does not
def test_execute_runs_the_plan_and_the_local_analysis(tmp_path: Path) -> None:
    done, folder = run_with_stand_in(tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["runtime"] == "compose"
    assert manifest["compose"] == {"project": PROJECT, "engine": "28.2.2", "compose": "2.29.7"}
    assert [r["status"] for r in manifest["strategies"].values()] == ["complete", "complete"]
    assert (folder / "report.md").is_file() and (folder / "summary.csv").is_file()
    config = RunConfig(strategies=("delete", "pubsub"), duration_s=1.0, results=folder.parent)
    plan = compose_plan(config, folder, os.getuid(), os.getgid())
    steps = [*plan.prologue, *[s for part in plan.strategies for s in part.steps + part.teardown]]
    asked = [shlex.join(s.argv[1:]) for s in steps if s.argv[0] == "docker"]
    calls = (tmp_path / "calls").read_text().splitlines()[2:]  # after the two version checks
    assert sorted(calls) == sorted(asked)  # the probe runs in the background: order may vary
    assert calls[-1] == "compose --profile pubsub --profile load down -v --remove-orphans"


@pytest.mark.slow  # seconds of real processes: make test runs it, test-fast does not
def test_execute_reports_a_strategy_that_fails_verification(tmp_path: Path) -> None:
    done, folder = run_with_stand_in(tmp_path, FAIL_VERIFY="delete")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["strategies"]["delete"]["status"] == "failed_verify"
    assert manifest["strategies"]["delete"]["reason"] == "delete: replica 2 served v1"
    assert manifest["strategies"]["pubsub"]["status"] == "complete"
    calls = (tmp_path / "calls").read_text()
    assert "locust-master" not in calls.split("--profile delete --profile load down")[0]


@pytest.mark.slow  # seconds of real processes: make test runs it, test-fast does not
def test_execute_measures_against_a_lagging_replica_a_strategy_that_fails_verify(
    tmp_path: Path,
) -> None:
    """A miss put the old row back: what a run with a lag is for, so it is measured."""
    done, folder = run_with_stand_in(tmp_path, "--origin-lag-ms", "200", FAIL_VERIFY="delete")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((folder / "run.json").read_text())
    config = manifest["config"]
    assert (config["origin"], config["origin_lag_ms"]) == ("postgres", 200.0)
    delete = manifest["strategies"]["delete"]
    assert delete["status"] == "failed_verify" and delete["rows_recorded"] == 1
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls.count(f"compose --profile {REPLICA_PROFILE} up -d --wait postgres-replica") == 2
    assert calls[-1] == (f"compose --profile pubsub --profile load --profile {REPLICA_PROFILE}"
                         " down -v --remove-orphans")  # fmt: skip


def test_execute_fails_the_run_when_a_step_fails_and_still_tears_down(tmp_path: Path) -> None:
    done, folder = run_with_stand_in(tmp_path, FAIL_ON="up -d --wait --scale app-delete=3")
    assert done.returncode == 1
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["status"] == "failed" and "exited with 1" in manifest["reason"]
    assert manifest["strategies"]["delete"]["status"] == "failed"
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[-1] == "compose --profile delete --profile load down -v --remove-orphans"
    assert not [call for call in calls if "app-pubsub" in call]  # it stopped at delete


# the step runner and one strategy's control flow, with harmless commands


def test_shell_exports_redirects_backgrounds_and_waits(tmp_path: Path) -> None:
    shell = Shell()
    marker = tmp_path / "late"
    for step in [
        Step(("cd", str(tmp_path)), "here"),
        Step(("export", "GREETING=hello world"), "env"),
        Step(("sh", "-c", f"sleep 0.3; touch {marker}"), "slow", background=True),
        Step(("sh", "-c", 'echo "$GREETING"; echo oops >&2'), "log", log=Path("out.log")),
    ]:
        assert shell.run(step) == 0
    assert not marker.exists()
    assert (tmp_path / "out.log").read_text() == "hello world\noops\n"
    shell.run(Step(("wait",), "join"))
    assert marker.exists()
    assert shell.run(Step(("false",), "tolerated", check=False)) == 1
    with pytest.raises(StepFailed, match=r"exited with 1; see boom\.log"):
        shell.run(Step(("false",), "fatal", log=Path("boom.log")))


def strategy(tmp_path: Path, verify_code: int, then: str = "true") -> StrategyPlan:
    steps = (
        Step(("cd", str(tmp_path)), "here"),
        Step(("sh", "-c", f"echo checking; echo 'replica 2 served v1'; exit {verify_code}"),
             "verify", log=Path("verify.log"), verifies=True),
        Step(("sh", "-c", then), "load"),
    )  # fmt: skip
    teardown = (Step(("touch", "down"), "down", check=False),)
    return StrategyPlan("delete", (("delete-1", "http://a:8000"),), steps, teardown)


def measure(shell: Shell, part: StrategyPlan, folder: Path, manifest: Manifest) -> None:
    """One strategy through the skeleton every runtime shares, on these steps."""
    config = RunConfig(duration_s=1.0)
    measure_strategy(deployment(shell, part), part.strategy, RunFolder(folder), manifest, config)


def test_a_strategy_that_fails_verify_is_reported_and_torn_down(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path, RunConfig().as_json())
    measure(Shell(), strategy(tmp_path, VERIFY_FAILED, then="touch measured"), tmp_path, manifest)
    record = manifest.data["strategies"]["delete"]
    assert record["status"] == "failed_verify"
    assert record["reason"] == "replica 2 served v1"
    assert (tmp_path / "down").exists() and not (tmp_path / "measured").exists()


def test_a_failed_step_still_tears_the_strategy_down(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path, RunConfig().as_json())
    with pytest.raises(StepFailed):
        measure(Shell(), strategy(tmp_path, 0, then="exit 4"), tmp_path, manifest)
    record = manifest.data["strategies"]["delete"]
    assert record["status"] == "failed" and record["ended_at"]  # never left `running`
    assert record["reason"] == "`sh -c 'exit 4' ...` exited with 4"
    assert (tmp_path / "down").exists()


def test_a_verified_strategy_is_measured(tmp_path: Path) -> None:
    (tmp_path / "requests").mkdir()
    rows = "strategy,op\ndelete,read\ndelete,write\n"
    manifest = Manifest(tmp_path, RunConfig().as_json())
    load = f"printf '{rows}' > requests/worker-1.csv"
    measure(Shell(), strategy(tmp_path, 0, then=load), tmp_path, manifest)
    record = manifest.data["strategies"]["delete"]
    assert record["status"] == "complete" and record["rows_recorded"] == 2
    assert record["replicas"] == [{"name": "delete-1", "url": "http://a:8000"}]


def test_verify_in_the_network_exits_3_when_the_strategy_breaks_its_promise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(strategy: str, replicas: list[Any], product_id: int) -> None:
        assert [r.url for r in replicas] == ["http://a:8000", "http://b:8000"]
        raise verify_module.VerifyFailed("b served version 1 after 2 s")

    monkeypatch.setattr(verify_module, "verify", broken)
    argv = ["--strategy", "delete", "--targets", "http://a:8000,http://b:8000", "--product", "7"]
    assert verify_module.main(argv) == VERIFY_FAILED
    assert capsys.readouterr().err == "delete failed verification: b served version 1 after 2 s\n"


DECLARED = [(spec.name, option) for spec in STRATEGIES.values() for option in spec.options]
SOME_VALUE = {bool: True, float: 2.5, int: 3}


@pytest.mark.parametrize(("strategy", "option"), DECLARED, ids=lambda x: getattr(x, "name", x))
def test_a_declared_option_reaches_its_strategy_s_replicas_and_no_other(
    strategy: str, option: Option
) -> None:
    """The compose plan exports every option a strategy declares, given or empty (so
    nothing exported for an earlier strategy lingers), and run.json records it."""
    value = SOME_VALUE[option.kind]
    config = RunConfig(strategies=("delete", strategy), options={option.key(strategy): value})
    exports = [line for line in commands(config) if line.startswith("export CACHE_TTL=")]
    other, own = (dict(item.split("=", 1) for item in line.split()[1:]) for line in exports)
    assert option.env not in other
    assert own[option.env] == option.env_text(value)
    assert config.as_json()["options"][strategy][option.name] == value
    unset = RunConfig(strategies=(strategy,))
    [export] = [line for line in commands(unset) if line.startswith("export CACHE_TTL=")]
    default = option.default
    assert f"{option.env}={'' if default is None else option.env_text(default)}" in export


def test_compose_yaml_passes_every_declared_option_to_the_replicas() -> None:
    environment = yaml.safe_load(COMPOSE_FILE.read_text())["x-app-environment"]
    assert {o.env for _, o in DECLARED} <= set(environment)
    assert all(environment[o.env] == f"${{{o.env}:-}}" for _, o in DECLARED)
