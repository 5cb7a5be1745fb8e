"""Load from several hosts, for real, on one machine: separate network stacks (tests/netns.py)
for the service (two example-shop replicas and their Redis), the harness with the Locust
master and the probe, and two Locust workers, each link delayed 1 ms by tc netem. Every
process addresses the others by their namespace addresses; nothing is copied between them.

One worker's clock is 40 ms off (BENCH_CLOCK_SKEW_MS). The run must bring both workers'
rows into the run folder, counted on both sides; estimate the skew within 2 ms; and with the
correction judge staleness as the true clocks would (never more stale reads than they
give), while without it the skew shows as false stale reads.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.staleness import check_staleness
from bench.analysis.tables import load_requests
from bench.run_config import RunConfig
from bench.runtime.commands import load_env, locust_worker
from bench.runtime.load import locustfile
from bench.runtime.local.redis_server import find_redis_server
from bench.runtime.processes import Supervisor
from tests.netns import Host, NoNamespaces, hosts, wait_answers
from tests.shop import SHOP

SKEW_MS = 40
MASTER_PORT = 5557
LOAD = ["--scenario", "update_heavy", "--products", "20", "--categories", "5",
        "--rate", "300", "--users", "8", "--duration", "10"]  # fmt: skip

pytestmark = pytest.mark.hosts


@pytest.fixture(scope="module")
def machines() -> Iterator[dict[str, Host]]:
    try:
        with hosts(["svc", "lead", "w1", "w2"]) as found:
            yield found
    except NoNamespaces as exc:
        pytest.skip(f"no network namespaces here: {exc}")


def start_service(supervisor: Supervisor, svc: Host, tmp: Path) -> list[str]:
    """Redis and two shop replicas on the service host; their URLs as others reach them."""
    db = tmp / "shop.db"
    subprocess.run([sys.executable, str(SHOP / "seed.py"), str(db), "--products", "200",
                    "--categories", "5", "--probe-ids", "201-208"], check=True)  # fmt: skip
    redis = [str(find_redis_server()), "--bind", svc.address, "--port", "6379", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp)]  # fmt: skip
    supervisor.start("redis", svc.argv(redis), tmp / "redis.log")
    urls = []
    for port in (8001, 8002):
        env = {"SHOP_DB": str(db), "SHOP_REDIS_URL": f"redis://{svc.address}:6379/0",
               "SHOP_REPLICA": f"shop-{port}"}  # fmt: skip
        argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(SHOP), "app:app", "--host",
                svc.address, "--port", str(port), "--log-level", "warning"]  # fmt: skip
        supervisor.start(f"shop-{port}", svc.argv(argv), tmp / f"shop-{port}.log", extra_env=env)
        urls.append(f"http://{svc.address}:{port}")
    return urls


def start_workers(supervisor: Supervisor, machines: dict[str, Host], urls: list[str],
                  tmp: Path) -> None:  # fmt: skip
    """The two workers, each on its own host, joining the master on the lead host; w1's
    clock 40 ms off. They get the load's settings as a user would copy them."""
    config = RunConfig(scenario="update_heavy", products=20, categories=5, rate=300, users=8,
                       locust_workers=2)  # fmt: skip
    env = load_env(config, "shop", urls, tmp / "worker-scratch")
    lead = machines["lead"].address
    for name in ("w1", "w2"):
        skew = {"BENCH_CLOCK_SKEW_MS": str(SKEW_MS if name == "w1" else 0)}
        argv = [sys.executable, "-m", "locust",
                *locust_worker(locustfile("update_heavy"), lead, MASTER_PORT)]  # fmt: skip
        supervisor.start(name, machines[name].argv(argv), tmp / f"{name}.log",
                         extra_env=env | skew | {"BENCH_ROWS": "channel"})  # fmt: skip


@pytest.fixture(scope="module")
def run(machines: dict[str, Host], tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hosts")
    results = tmp / "results"
    with Supervisor() as supervisor:
        urls = start_service(supervisor, machines["svc"], tmp)
        for url in urls:
            wait_answers(machines["lead"], f"{url}/products/1")
        start_workers(supervisor, machines, urls, tmp)
        lead = machines["lead"]
        harness = [sys.executable, "-m", "bench", "run", "--runtime", "external", "--label",
                   "shop", "--targets", ",".join(urls), "--probe-ids", "201-208", *LOAD,
                   "--locust-workers", "2", "--locust-master", f"{lead.address}:{MASTER_PORT}",
                   "--results", str(results)]  # fmt: skip
        done = subprocess.run(lead.argv(harness), capture_output=True, text=True, timeout=300,
                              env={k: v for k, v in os.environ.items()
                                   if k != "BENCH_CLOCK_SKEW_MS"})  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    return folder


def test_both_workers_rows_arrive_counted_with_nothing_copied(run: Path) -> None:
    record = json.loads((run / "run.json").read_text())["strategies"]["shop"]
    counts = record["row_channel"]
    assert len(counts) == 2
    files = {p.stem: len(p.read_text().splitlines()) - 1 for p in (run / "requests").glob("*.csv")}
    for worker, c in counts.items():
        assert c["sent"] == c["received"] == files[worker] > 0
    assert sum(files.values()) == record["rows_recorded"]


def test_the_skew_is_estimated_within_2_ms(run: Path, machines: dict[str, Host]) -> None:
    clocks = pd.read_csv(run / "clocks.csv")
    offsets = clocks.groupby("worker")["offset_ns"].median() / 1e6
    skewed, plain = sorted(offsets, key=abs, reverse=True)
    assert abs(skewed + SKEW_MS) < 2 and abs(plain) < 2, offsets.to_dict()
    # netem's delay each way between a worker and the master is half a round trip at
    # least (none where the kernel has no netem); within 2 ms
    least = machines["w1"].delay_ms * 0.9e6
    assert ((clocks["uncertainty_ns"] >= least) & (clocks["uncertainty_ns"] < 2e6)).all()


def stale_reads(folder: Path) -> int:
    summary = pd.read_csv(folder / "summary.csv").set_index("strategy")
    return int(summary.loc["shop", "stale_reads"])


def true_clock_stale_reads(folder: Path) -> int:
    """The verdicts on the rows with the known skew taken out exactly: the truth the
    correction must not exceed."""
    requests, _ = load_requests(folder)
    clocks = pd.read_csv(folder / "clocks.csv")
    skewed = clocks.groupby("worker")["offset_ns"].median().abs().idxmax()
    shift = np.where(requests["worker"] == skewed, SKEW_MS * 1_000_000, 0)
    fixed = requests.assign(t_start_ns=requests["t_start_ns"] - shift,
                            t_end_ns=requests["t_end_ns"] - shift)  # fmt: skip
    return int(check_staleness(fixed, ["strategy"])["stale"].sum())


def test_no_false_stale_read_with_the_correction_and_many_without(run: Path) -> None:
    corrected = stale_reads(run)
    truth = true_clock_stale_reads(run)
    assert corrected <= truth, "the correction may hide a stale read, never make one up"
    off = subprocess.run([sys.executable, "-m", "bench", "report", str(run),
                          "--clock-correction", "off"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert off.returncode == 0, off.stderr
    uncorrected = stale_reads(run)
    assert uncorrected > truth + 20, (corrected, truth, uncorrected)
    report = (run / "report.md").read_text()
    assert "NOT corrected" in report
