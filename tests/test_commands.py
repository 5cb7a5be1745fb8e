"""The Locust, probe and verify command lines, built once for every runtime; Locust's own
argument parser (in a process of its own: importing locust patches the process with
gevent) must read the options we build as we mean them."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.run_config import RunConfig
from bench.runtime.base import Replica
from bench.runtime.commands import (
    load_env,
    locust_lead,
    locust_worker,
    probe_options,
    verify_options,
)
from bench.runtime.load import locustfile

READ_BACK = """
import json, sys
from locust.argument_parser import get_parser
options = get_parser(default_config_files=[]).parse_args(sys.argv[1:])
print(json.dumps(vars(options), default=str))
"""
REPLICAS = [Replica("delete-1", "http://127.0.0.1:8001"), Replica("delete-2", "http://h:8002")]


def as_locust_reads(options: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", READ_BACK, *options], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    return json.loads(done.stdout)


def test_one_locust_process_runs_the_whole_test_headless() -> None:
    config = RunConfig(users=7, duration_s=12.9, locust_workers=0)
    options = locust_lead(config, locustfile("race"), "http://a:1", "/r/locust/ttl",
                          workers_wait_s=30)  # fmt: skip
    read = as_locust_reads(options)
    assert read["locustfile"].endswith("scenarios/race.py")
    assert (read["headless"], read["host"], read["num_users"], read["spawn_rate"]) == (
        True, "http://a:1", 7, 7.0,
    )  # fmt: skip
    assert (read["run_time"], read["stop_timeout"], read["csv_prefix"]) == (12, 3, "/r/locust/ttl")
    assert read["json_file"] == "/r/locust/ttl", "final stats, written once it stopped"
    assert read["exit_code_on_error"] == 0 and read["only_summary"] is True
    assert read["master"] is False and read["loglevel"] == "WARNING"


def test_a_master_listens_where_it_is_told_and_waits_for_its_workers() -> None:
    config = RunConfig(locust_workers=3)
    options = locust_lead(config, "scenarios/lists.py", "http://a:1", "p", workers_wait_s=45,
                          bind=("127.0.0.1", 5601))  # fmt: skip
    read = as_locust_reads(options)
    assert (read["master"], read["master_bind_host"], read["master_bind_port"]) == (
        True, "127.0.0.1", 5601,
    )  # fmt: skip
    assert (read["expect_workers"], read["expect_workers_max_wait"]) == (3, 45)
    unbound = locust_lead(config, "scenarios/lists.py", "http://a:1", "p", workers_wait_s=60)
    assert "--master-bind-port" not in unbound and "--master" in unbound  # Locust's default


def test_a_worker_joins_its_master() -> None:
    read = as_locust_reads(locust_worker("scenarios/read_mostly.py", "127.0.0.1", 5601))
    assert (read["worker"], read["master_host"], read["master_port"]) == (True, "127.0.0.1", 5601)


def test_the_probe_polls_every_replica_in_order_on_probe_keys() -> None:
    config = RunConfig(poll_ms=1.5, ttl_s=5, duration_s=20)
    options = probe_options(config, "delete", REPLICAS, range(1001, 1004), "/r/probe/delete.csv")
    assert options == [
        "--targets", "http://127.0.0.1:8001,http://h:8002",
        "--name", "delete-1", "--name", "delete-2",
        "--strategy", "delete", "--keys", "1001,1002,1003", "--poll-ms", "1.5",
        "--out", "/r/probe/delete.csv", "--ttl", "5", "--duration", "20",
    ]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "bench.probe", "--help"], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    for option in options[::2]:
        assert option in done.stdout


def test_verify_is_told_every_replica() -> None:
    assert verify_options("pubsub", REPLICAS, 1016) == [
        "--strategy", "pubsub", "--targets", "http://127.0.0.1:8001,http://h:8002",
        "--product", "1016",
    ]  # fmt: skip


def test_the_load_environment_paces_each_user_to_share_the_rate() -> None:
    config = RunConfig(users=20, rate=300, products=50, categories=5, seed=3)
    env = load_env(config, "pubsub", [r.url for r in REPLICAS], RunConfig().results / "x")
    assert env["BENCH_USER_RATE"] == "15" and env["BENCH_STRATEGY"] == "pubsub"
    assert (env["BENCH_PRODUCTS"], env["BENCH_CATEGORIES"], env["BENCH_SEED"]) == ("50", "5", "3")
    assert (
        load_env(RunConfig(rate=None), "ttl", ["http://a"], RunConfig().results)["BENCH_USER_RATE"]
        == "max"
    )
    assert env["BENCH_REQUEST_TIMEOUT_S"] == "10"
    patient = RunConfig(request_timeout_s=2.5)
    assert load_env(patient, "ttl", ["http://a"], Path("r"))["BENCH_REQUEST_TIMEOUT_S"] == "2.5"
