"""The command lines of the load, the probe and verify, built in one place for every runtime.

A runtime only says where things are (the interpreter, the run folder as the process
sees it, the replicas' URLs); the options themselves, and so what is measured, are the
same whether a process runs on this machine or in a container.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bench.run_config import RunConfig
from bench.runtime.base import Replica

STOP_TIMEOUT_S = 3  # lets users finish the request in flight when the run time is up


def rows_via(config: RunConfig) -> str:
    """`channel` for a master's workers, `files` for one process or when asked."""
    if not config.locust_workers or os.environ.get("BENCH_ROWS") == "files":
        return "files"
    return "channel"


def load_env(config: RunConfig, strategy: str, targets: list[str], run_dir: Path) -> dict[str, str]:
    """The BENCH_* variables the locustfiles and the recorder read (scenarios.workload)."""
    return {
        "BENCH_TARGETS": ",".join(targets),
        "BENCH_RUN_DIR": str(run_dir),
        "BENCH_STRATEGY": strategy,
        "BENCH_PRODUCTS": str(config.products),
        "BENCH_CATEGORIES": str(config.categories),
        "BENCH_SEED": str(config.seed),
        "BENCH_USER_RATE": "max" if config.user_rate is None else f"{config.user_rate:.6g}",
        "BENCH_ARRIVALS": config.arrivals,
        "BENCH_REQUEST_TIMEOUT_S": f"{config.request_timeout_s:g}",
        # a master's workers send their rows over Locust's channel: a worker on another
        # machine cannot reach the run folder (scenarios.row_channel); BENCH_ROWS=files
        # given to the harness keeps workers on this machine writing their own files
        "BENCH_ROWS": rows_via(config),
    }


def locust_lead(
    config: RunConfig,
    locustfile: str,
    host: str,
    csv_prefix: str,
    *,
    workers_wait_s: int,
    bind: tuple[str, int] | None = None,
) -> list[str]:
    """Options of the Locust process that runs the test: alone, or the master of
    `config.locust_workers` workers, which it waits up to `workers_wait_s` for (listening
    on `bind`, or on Locust's default 0.0.0.0:5557).

    Its stats go to `<csv_prefix>_stats.csv`, rewritten every second while it runs (the
    progress display's), and once more, final, to `<csv_prefix>.json` when it has
    stopped: counted after the last request was given up, as the rows are."""
    options = [
        "-f", locustfile, "--loglevel", "WARNING", "--headless", "--host", host,
        "-u", str(config.users), "-r", str(config.users),
        "--run-time", f"{config.load_s}s", "--stop-timeout", str(STOP_TIMEOUT_S),
        "--csv", csv_prefix, "--json-file", csv_prefix, "--only-summary",
        "--exit-code-on-error", "0",  # failed requests are data, counted in the rows
    ]  # fmt: skip
    if config.locust_workers:
        listen = ["--master-bind-host", bind[0], "--master-bind-port", str(bind[1])] if bind else []
        options += ["--master", *listen, "--expect-workers", str(config.locust_workers),
                    "--expect-workers-max-wait", str(workers_wait_s)]  # fmt: skip
    return options


def locust_worker(locustfile: str, master_host: str, master_port: int) -> list[str]:
    """Options of one Locust worker joining the master at `master_host:master_port`."""
    return [
        "-f", locustfile, "--loglevel", "WARNING",
        "--worker", "--master-host", master_host, "--master-port", str(master_port),
    ]  # fmt: skip


def probe_options(
    config: RunConfig, strategy: str, replicas: Sequence[Replica], keys: Sequence[int], out: str
) -> list[str]:
    """Options of `python -m bench.probe`: every replica, in order, on probe-only `keys`;
    one `--name` each, so a name may hold anything (a service's X-Replica, a comma)."""
    return [
        "--targets", ",".join(r.url for r in replicas),
        *[option for r in replicas for option in ("--name", r.name)],
        "--strategy", strategy,
        "--keys", ",".join(map(str, keys)),
        "--poll-ms", str(config.poll_ms),
        "--out", out,
        "--ttl", str(config.ttl_s),
        "--duration", str(config.duration_s),
    ]  # fmt: skip


def verify_options(strategy: str, replicas: Sequence[Replica], product_id: int) -> list[str]:
    """Options of `python -m bench.runtime.verify` (the compose runtime runs it in a container)."""
    targets = ",".join(r.url for r in replicas)
    return ["--strategy", strategy, "--targets", targets, "--product", str(product_id)]
