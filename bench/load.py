"""Run one scenario's Locust load as processes of its own, and watch its numbers.

The harness never imports locust (it gevent-patches whatever imports it): it
starts `locust -f scenarios/<name>.py --headless ...`, alone or as a master with
K workers (Locust's own distributed mode), and reads the stats CSV Locust
rewrites every second for the progress display.
"""

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import scenarios
from bench.ports import free_port
from bench.processes import Child, Supervisor
from bench.run_config import RunConfig

STOP_TIMEOUT_S = 3  # lets users finish the request in flight when the run time is up


def scenario_file(name: str) -> Path:
    return Path(scenarios.__file__).parent / f"{name}.py"


def load_env(config: RunConfig, strategy: str, targets: list[str], run_dir: Path) -> dict[str, str]:
    """The BENCH_* variables the locustfiles and the recorder read."""
    return {
        "BENCH_TARGETS": ",".join(targets),
        "BENCH_RUN_DIR": str(run_dir),
        "BENCH_STRATEGY": strategy,
        "BENCH_PRODUCTS": str(config.products),
        "BENCH_CATEGORIES": str(config.categories),
        "BENCH_SEED": str(config.seed),
        "BENCH_USER_RATE": "max" if config.user_rate is None else f"{config.user_rate:.6g}",
    }


def locust_argv(config: RunConfig, csv_prefix: Path, host: str, role: str, port: int) -> list[str]:
    """argv of one Locust process; `role` is `alone`, `master` or `worker`."""
    argv = [sys.executable, "-m", "locust", "-f", str(scenario_file(config.scenario)),
            "--loglevel", "WARNING"]  # fmt: skip
    if role == "worker":
        return [*argv, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    argv += [
        "--headless", "--host", host,
        "-u", str(config.users), "-r", str(config.users),
        "--run-time", f"{int(config.duration_s)}s", "--stop-timeout", str(STOP_TIMEOUT_S),
        "--csv", str(csv_prefix), "--only-summary",
        "--exit-code-on-error", "0",  # failed requests are data, counted in the rows
    ]  # fmt: skip
    if role == "master":
        argv += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                 "--expect-workers", str(config.locust_workers),
                 "--expect-workers-max-wait", "30"]  # fmt: skip
    return argv


@dataclass
class LoadRun:
    """The Locust processes of one strategy's load; `lead` decides when it is over."""

    lead: Child
    workers: list[Child]
    stats_csv: Path

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


def start_load(
    supervisor: Supervisor, config: RunConfig, strategy: str, targets: list[str], run_dir: Path
) -> LoadRun:
    env = load_env(config, strategy, targets, run_dir)
    prefix = run_dir / "locust" / strategy
    prefix.parent.mkdir(parents=True, exist_ok=True)
    logs = run_dir / "logs" / strategy
    if config.locust_workers == 0:
        lead = supervisor.start(
            "locust", locust_argv(config, prefix, targets[0], "alone", 0),
            logs / "locust.log", extra_env=env,
        )  # fmt: skip
        return LoadRun(lead, [], Path(f"{prefix}_stats.csv"))
    port = free_port()
    lead = supervisor.start(
        "locust-master", locust_argv(config, prefix, targets[0], "master", port),
        logs / "locust-master.log", extra_env=env,
    )  # fmt: skip
    workers = [
        supervisor.start(
            f"locust-worker-{i}",
            locust_argv(config, prefix, targets[0], "worker", port),
            logs / f"locust-worker-{i}.log",
            extra_env=env,
        )
        for i in range(1, config.locust_workers + 1)
    ]
    return LoadRun(lead, workers, Path(f"{prefix}_stats.csv"))
