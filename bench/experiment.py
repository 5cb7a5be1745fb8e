"""One `bench run`, read top to bottom as the experiment it is.

For each strategy in turn, on a clean Redis and a freshly seeded origin:
start, verify, load, stop. Then analyse and report. Strategies never run side by
side, and every process started here is stopped here, also on failure and
Ctrl-C; the manifest says how the run ended.
"""

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.analysis import write_analysis
from bench.load import LoadRun, start_load
from bench.manifest import Manifest, create_run_folder, utc_now
from bench.processes import Child, Supervisor, SupervisorError
from bench.redis_server import redis_server_version, start_redis
from bench.replicas import Replica, ReplicaConfig, start_replicas
from bench.report import build_report
from bench.run_config import RunConfig
from bench.seed import SeedPlan, seed
from bench.verify import VerifyFailed, verify

LOAD_GRACE_S = 30.0  # beyond --duration, for Locust to start up and write its last rows
WORKER_EXIT_TIMEOUT_S = 15.0
console = Console(stderr=True)


@dataclass(frozen=True)
class RunOutcome:
    folder: Path
    status: str
    exit_code: int


def run_experiment(config: RunConfig, redis_binary: Path, folder: Path | None = None) -> RunOutcome:
    """Measure every strategy of `config` into a new run folder and report on it.

    `folder`, when given, is the run folder to create (a sweep puts each cell at
    `cells/<cell-id>/`); it must not exist yet, so a folder is still written only once.
    """
    if folder is None:
        folder = create_run_folder(config.results, config.scenario)
    else:
        folder.mkdir(parents=True)
    manifest = Manifest(folder, config.as_json())
    manifest.data["redis_server"] = redis_server_version(redis_binary)
    manifest.save()
    console.print(f"run folder: [bold]{folder}[/]")
    scratch = Path(tempfile.mkdtemp(prefix="bench-run-"))
    try:
        with Supervisor() as supervisor:
            for strategy in config.strategies:
                measure_strategy(supervisor, config, strategy, folder, scratch, manifest)
    except KeyboardInterrupt:
        manifest.finish("interrupted", "stopped by Ctrl-C (SIGINT) or SIGTERM")
        console.print(f"[yellow]interrupted[/]; partial results in {folder}")
        console.print(f"rebuild its report with: python -m bench report {folder}")
        return RunOutcome(folder, "interrupted", 130)
    except (SupervisorError, OSError) as exc:
        manifest.finish("failed", str(exc))
        console.print(f"[red]run failed:[/] {exc}")
        return RunOutcome(folder, "failed", 1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    failed = [s for s, r in manifest.data["strategies"].items() if r["status"] != "complete"]
    reason = f"strategies that failed verification: {', '.join(failed)}" if failed else None
    manifest.finish("complete", reason)
    analyse_and_report(folder)
    return RunOutcome(folder, "complete", 0)


def analyse_and_report(folder: Path) -> None:
    """Analysis reads only the run folder, so it runs after every process has stopped."""
    with console.status("analysing"):
        write_analysis(folder)
        markdown, html = build_report(folder)
    console.print(f"report: [bold]{html}[/]  (and {markdown.name})")


def measure_strategy(
    supervisor: Supervisor,
    config: RunConfig,
    strategy: str,
    folder: Path,
    scratch: Path,
    manifest: Manifest,
) -> None:
    record = manifest.strategy(strategy)
    record.update(status="starting", started_at=utc_now())
    manifest.save()
    started = set(supervisor.children)
    work = scratch / strategy
    logs = folder / "logs" / strategy

    # start: a clean Redis and origin of its own, then the replicas
    redis = start_redis(supervisor, work, log_path=logs / "redis-server.log")
    plan = SeedPlan(config.products, config.categories)
    database_url = f"sqlite:///{work / 'origin.db'}"
    seed(database_url, plan)
    replica_config = ReplicaConfig(
        strategy, redis.url, database_url, config.ttl_s, config.effective_origin_delay_ms
    )
    replicas = start_replicas(supervisor, replica_config, config.replicas, logs)
    record["replicas"] = [{"name": r.name, "url": r.url, "pid": r.child.pid} for r in replicas]

    # verify: a strategy that breaks its promise is reported, not measured
    try:
        verify(strategy, replicas, plan.probe_ids[-1])
    except VerifyFailed as exc:
        record.update(status="failed_verify", reason=str(exc), ended_at=utc_now())
        manifest.save()
        console.print(f"[red]{strategy}: failed verification:[/] {exc}")
        supervisor.stop(*started_since(supervisor, started))
        return

    # load
    record["status"] = "running"
    manifest.save()
    files_before = set((folder / "requests").glob("*.csv"))
    load = start_load(supervisor, config, strategy, [r.url for r in replicas], folder)
    probe = start_probe(supervisor, config, strategy, replicas, plan.probe_ids[:-1], folder)
    _, failures = watch_load(supervisor, config, strategy, load)
    supervisor.stop(probe)  # SIGTERM: it writes its last complete cycle and exits
    # Locust's own stats CSV lags up to a second behind; the recorded rows are the truth.
    rows = count_rows(set((folder / "requests").glob("*.csv")) - files_before)

    # stop
    supervisor.stop(*started_since(supervisor, started))
    record.update(
        status="complete",
        ended_at=utc_now(),
        locust_exit_code=load.lead.returncode,
        rows_recorded=rows,
        locust_failures=failures,
    )
    manifest.save()
    console.print(
        f"{strategy}: {rows} requests recorded, {rows / config.duration_s:.0f} rps, "
        f"{failures} errors"
    )


def started_since(supervisor: Supervisor, before: set[Child]) -> list[Child]:
    """The children one strategy started: stopping them leaves nothing of it behind."""
    return [child for child in supervisor.children if child not in before]


def start_probe(
    supervisor: Supervisor,
    config: RunConfig,
    strategy: str,
    replicas: list[Replica],
    keys: range,
    folder: Path,
) -> Child:
    """The probe process, on probe-only keys (the last probe id is the verify step's)."""
    argv = [
        sys.executable, "-m", "bench.probe",
        "--targets", ",".join(r.url for r in replicas),
        "--names", ",".join(r.name for r in replicas),
        "--keys", ",".join(map(str, keys)),
        "--strategy", strategy,
        "--out", str(folder / "probe" / f"{strategy}.csv"),
        "--poll-ms", str(config.poll_ms),
        "--ttl", str(config.ttl_s),
        "--duration", str(config.duration_s),
    ]  # fmt: skip
    child = supervisor.start("probe", argv, folder / "logs" / strategy / "probe.log")
    child.exit_expected = True  # it may finish its cycles before Locust does
    return child


def count_rows(files: set[Path]) -> int:
    """Data rows (header excluded) in the request files of one strategy's Locust processes."""
    total = 0
    for path in files:
        with path.open("rb") as f:
            total += max(
                sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1, 0
            )
    return total


def watch_load(
    supervisor: Supervisor, config: RunConfig, strategy: str, load: LoadRun
) -> tuple[int, int]:
    """Show strategy, elapsed/total, live rps and errors until the lead Locust exits."""
    deadline = time.monotonic() + config.duration_s + LOAD_GRACE_S
    columns = (
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn(
            "/ {task.total:.0f} s  {task.fields[rps]:>6.0f} rps  {task.fields[errors]} errors"
        ),
    )
    last_count, last_time = 0, time.monotonic()
    rps = 0.0
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(strategy, total=config.duration_s, rps=0.0, errors=0)
        began = time.monotonic()
        for child in load.children:  # they end on their own when the run time is up
            child.exit_expected = True
        while load.lead.returncode is None:
            if time.monotonic() > deadline:
                raise SupervisorError(
                    f"Locust did not finish within {config.duration_s + LOAD_GRACE_S:.0f} s"
                )
            supervisor.check_alive()
            count, errors = load.counts()
            now = time.monotonic()
            if now - last_time >= 1.0:
                rps = (count - last_count) / (now - last_time)
                last_count, last_time = count, now
            progress.update(
                task, completed=min(now - began, config.duration_s), rps=rps, errors=errors
            )
            time.sleep(0.25)
        progress.update(task, completed=config.duration_s)
    for worker in load.workers:  # they flush their rows when the master tells them to quit
        supervisor.wait_exit(worker, WORKER_EXIT_TIMEOUT_S)
    if load.lead.returncode not in (0,):
        raise SupervisorError(
            f"Locust exited with code {load.lead.returncode}; see {load.lead.log_path}"
        )
    return load.counts()
