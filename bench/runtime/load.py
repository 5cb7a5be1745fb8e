"""The local runtime's load: one scenario's Locust processes on this machine, watched.

The harness never imports locust (it gevent-patches whatever imports it): it
starts `locust -f scenarios/<name>.py --headless ...`, alone or as a master with
K workers (Locust's own distributed mode), and reads the stats CSV Locust
rewrites every second for the progress display, and its final stats when it is done.
"""

import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import scenarios
from bench.console import console
from bench.disk import raise_if_full
from bench.faults.injector import Injector
from bench.layout import RunFolder
from bench.run_config import RunConfig
from bench.runtime.commands import load_env, locust_lead, locust_worker
from bench.runtime.ports import LOOPBACK, free_port
from bench.runtime.processes import Child, Supervisor, SupervisorError

LOAD_GRACE_S = 30.0  # beyond --duration, for Locust to start up and write its last rows
WORKER_EXIT_TIMEOUT_S = 15.0
WORKERS_WAIT_S = 30  # how long a master waits for its workers to join
TICK_S = 0.25  # the progress display's refresh, and the longest a due fault waits


@dataclass
class LoadRun:
    """The Locust processes of one strategy's load; `lead` decides when it is over."""

    lead: Child
    workers: list[Child]
    stats_csv: Path
    folder: Path  # the run folder its rows go to
    final_json: Path

    @property
    def children(self) -> list[Child]:
        return [self.lead, *self.workers]

    def counts(self) -> tuple[int, int]:
        """(requests, failures) so far, from Locust's Aggregated row; (0, 0) before the first."""
        try:
            with self.stats_csv.open(newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("Name") == "Aggregated":
                        return int(row["Request Count"]), int(row["Failure Count"])
        except (OSError, ValueError, KeyError):
            pass
        return 0, 0

    def final_counts(self) -> tuple[int, int] | None:
        """(requests, failures) as Locust counted them once it had stopped, every request
        it gave up included; None until it wrote them."""
        try:
            entries = json.loads(self.final_json.read_text())
            return (sum(int(e["num_requests"]) for e in entries),
                    sum(int(e["num_failures"]) for e in entries))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            return None


def locustfile(scenario: str) -> str:
    return str(Path(scenarios.__file__).parent / f"{scenario}.py")


def skewed(worker: int) -> dict[str, str]:
    """Test-only: BENCH_CLOCK_SKEW_MS given to the harness shifts the first worker's clock
    alone (`scenarios.clock_sync`), as a host whose clock is off would; every other
    process gets 0."""
    skew = os.environ.get("BENCH_CLOCK_SKEW_MS", "")
    return {"BENCH_CLOCK_SKEW_MS": skew if worker == 1 and skew else "0"}


def start_load(
    supervisor: Supervisor, config: RunConfig, strategy: str, targets: list[str], run: RunFolder
) -> LoadRun:
    env = load_env(config, strategy, targets, run.path)
    prefix = run.locust_prefix(strategy)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    logs, file, stats = run.logs(strategy), locustfile(config.scenario), run.locust_stats(strategy)
    final = run.locust_final(strategy)
    locust = [sys.executable, "-m", "locust"]
    if config.locust_workers == 0:
        lead = locust_lead(config, file, targets[0], str(prefix), workers_wait_s=WORKERS_WAIT_S)
        child = supervisor.start("locust", [*locust, *lead], logs / "locust.log", extra_env=env)
        return LoadRun(child, [], stats, run.path, final)
    host, port = config.master_address() if config.locust_master else (LOOPBACK, free_port())
    lead = locust_lead(
        config, file, targets[0], str(prefix), workers_wait_s=WORKERS_WAIT_S, bind=(host, port)
    )
    master = supervisor.start(
        "locust-master", [*locust, *lead], logs / "locust-master.log", extra_env=env
    )
    if config.locust_master:  # its workers run elsewhere and join it by themselves
        return LoadRun(master, [], stats, run.path, final)
    workers = [
        supervisor.start(
            f"locust-worker-{i}",
            [*locust, *locust_worker(file, LOOPBACK, port)],
            logs / f"locust-worker-{i}.log",
            extra_env=env | skewed(i),
        )
        for i in range(1, config.locust_workers + 1)
    ]
    return LoadRun(master, workers, stats, run.path, final)


def watch_load(
    supervisor: Supervisor,
    config: RunConfig,
    strategy: str,
    load: LoadRun,
    injector: Injector | None = None,
) -> tuple[int, int]:
    """Show strategy, elapsed/total, live rps and errors until the lead Locust exits;
    apply each scheduled fault when its time comes. Returns Locust's (requests,
    failures), final once it wrote them."""
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
            raise_if_full(load.folder, f"during {strategy}'s load")
            count, errors = load.counts()
            now = time.monotonic()
            if now - last_time >= 1.0:
                rps = (count - last_count) / (now - last_time)
                last_count, last_time = count, now
            progress.update(
                task, completed=min(now - began, config.duration_s), rps=rps, errors=errors
            )
            next_fault_s = injector.due() if injector is not None else TICK_S
            time.sleep(max(0.0, min(TICK_S, next_fault_s)))
        final = load.final_counts()
        errors = final[1] if final is not None else load.counts()[1]
        progress.update(task, completed=config.duration_s, errors=errors)
    for worker in load.workers:  # they flush their rows when the master tells them to quit
        supervisor.wait_exit(worker, WORKER_EXIT_TIMEOUT_S)
    if load.lead.returncode not in (0,):
        raise SupervisorError(
            f"Locust exited with code {load.lead.returncode}; see {load.lead.log_path}"
        )
    return final if final is not None else load.counts()
