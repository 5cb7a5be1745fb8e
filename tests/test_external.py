"""`bench run --runtime external` on real replicas of the example shop, which the test
starts itself (its own redis-server, SQLite file and uvicorn processes), as a user would.

The suite then checks the contract, loads and probes the targets, and analyses the rows
as for its own replicas. A second deployment puts each replica on a Redis of its own, a
misconfiguration whose invalidations never reach the other replica: the freshness check
fails, and the service is measured all the same, `failed_verify` on record and first in
the report.
"""

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.run_config import ConfigError, RunConfig
from bench.runtime.local.redis_server import start_redis
from bench.runtime.processes import Supervisor
from tests.shop import CATALOGUE, start_shop
from tests.standin import DOUBLE_ARGS, Shop, decoy, serving


@pytest.fixture(scope="module")
def split_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two replicas, each on its own Redis: a write invalidates only its own replica's."""
    tmp = tmp_path_factory.mktemp("split")
    with Supervisor() as supervisor:
        caches = [start_redis(supervisor, tmp / n, log_path=tmp / f"{n}.log") for n in "ab"]
        yield from start_shop(tmp, [redis.url for redis in caches])


def run_external(results: Path, targets: list[str], *args: str) -> Path:
    argv = [sys.executable, "-m", "bench", "run", "--runtime", "external", "--targets",
            ",".join(targets), *CATALOGUE, "--results", str(results), *args]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    return folder


@pytest.fixture(scope="module")
def shop_run(shop: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("shop-run")
    return run_external(results, shop, "--label", "shop", "--duration", "8")


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_an_external_run_is_a_complete_run_folder(shop_run: Path, shop: list[str]) -> None:
    manifest = json.loads((shop_run / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["targets"] == shop
    record = manifest["strategies"]["shop"]
    assert record["status"] == "complete" and record["rows_recorded"] > 1000
    assert [r["name"] for r in record["replicas"]] == ["shop-a", "shop-b"]
    contract = (shop_run / "logs" / "shop" / "contract.txt").read_text().splitlines()
    assert contract[-1].endswith("the contract holds")
    assert (shop_run / "probe" / "shop.csv").stat().st_size > 0
    report = (shop_run / "report.md").read_text()
    assert "service shop on 2 replicas" in report and "FAILED" not in report


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_its_staleness_and_hits_are_analysed_like_our_own(shop_run: Path) -> None:
    """The shop says HIT and MISS, which count as ours do; its cache-aside invalidates in
    the write path, so stale reads are at most the read/write race's few."""
    summary = pd.read_csv(shop_run / "summary.csv").set_index("strategy")
    shop = summary.loc["shop"]
    assert shop["reads"] > 1000 and shop["stale_read_ratio"] < 0.01
    assert 0.3 < shop["hit_ratio"] < 1, "a read-mostly load on a 200-product catalogue hits"
    assert shop["probe_cycles"] > 0 and shop["probe_convergence_p50_ms"] < 100
    rows = pd.concat(pd.read_csv(f) for f in (shop_run / "requests").glob("*.csv"))
    assert set(rows["replica"]) == {"shop-a", "shop-b"}
    assert set(rows["cache"].dropna()) == {"HIT", "MISS"}


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_an_unfresh_service_is_measured_and_the_report_says_so_first(
    split_shop: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    results = tmp_path_factory.mktemp("split-run")
    folder = run_external(results, split_shop, "--label", "split", "--duration", "5",
                          "--scenario", "update_heavy")  # fmt: skip
    manifest = json.loads((folder / "run.json").read_text())
    record = manifest["strategies"]["split"]
    assert record["status"] == "failed_verify" and "fresh-everywhere" in record["reason"]
    assert record["rows_recorded"] > 0
    report = (folder / "report.md").read_text()
    warning = next(line for line in report.splitlines() if line.startswith("> **"))
    assert "split FAILED verification" in warning and "measured anyway" in warning
    summary = pd.read_csv(folder / "summary.csv").set_index("strategy")
    assert summary.loc["split", "stale_reads"] > 0, "the other replica's cache kept old values"


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"targets": ()}, "needs --targets"),
        ({"strategies": ("delete",)}, "names one of the suite's strategies"),
        ({"strategies": ("no/slash",)}, "--label"),
        ({"probe_ids": (150, 151)}, "150 is a load product"),
        ({"probe_ids": (201,)}, "at least two ids"),
        ({"replicas": 3}, "the number of --targets"),
        ({"targets": ("http://127.0.0.1:99999",)}, "port must be 1-65535"),
        ({"targets": ("127.0.0.1:9",)}, "the scheme must be http or https"),
    ],
)
def test_an_external_config_is_checked_before_anything_starts(
    fields: dict[str, Any], said: str
) -> None:
    good = {"runtime": "external", "strategies": ("x",), "replicas": 1, "products": 200,
            "targets": ("http://127.0.0.1:9",), "probe_ids": (201, 202)}  # fmt: skip
    RunConfig(**good)
    with pytest.raises(ConfigError, match=re.escape(said)):
        RunConfig(**{**good, **fields})


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--fault", "redis-kill@1+1"], "injects no fault"),
        (["--strategies", "delete"], "--strategies"),
        (["--targets", "ftp://127.0.0.1:9"], "bad target 'ftp://127.0.0.1:9': the scheme must be"),
        (
            ["--targets", "http://127.0.0.1:99999"],
            "bad target 'http://127.0.0.1:99999': port must be 1-65535",
        ),
        (["--targets", "http://127.0.0.1:9?x=1"], "a query (?...) has no place in a base URL"),
    ],
)
def test_bad_external_input_is_one_line_and_exit_2(
    args: list[str], said: str, tmp_path: Path
) -> None:
    """Refused before a run folder exists, and before any request reaches a target."""
    argv = [sys.executable, "-m", "bench", "run", "--runtime", "external", "--products", "200",
            "--targets", "http://127.0.0.1:9", "--label", "x", "--probe-ids", "201-208",
            "--results", str(tmp_path), *args]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_a_label_is_only_for_an_external_run_and_a_sweep_refuses_one(tmp_path: Path) -> None:
    for argv in (["run", "--label", "x"], ["sweep", "--runtime", "external"]):
        done = subprocess.run([sys.executable, "-m", "bench", *argv, "--results", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2 and "external" in done.stderr, done.stderr


@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_a_broken_contract_stops_the_run_with_its_findings(tmp_path: Path) -> None:
    """Nothing answers the target: the run ends `failed` at once, nothing measured, and
    the check's lines are kept in the run folder for whoever reads it next."""
    with socket.socket() as closed:  # bound, never listening: refused, and ours alone
        closed.bind(("127.0.0.1", 0))
        target = f"http://127.0.0.1:{closed.getsockname()[1]}"
        argv = [sys.executable, "-m", "bench", "run", "--runtime", "external", "--targets",
                target, "--label", "gone", *CATALOGUE, "--results", str(tmp_path)]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    [folder] = tmp_path.iterdir()
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["status"] == "failed" and "reachable" in manifest["reason"]
    contract = (folder / "logs" / "gone" / "contract.txt").read_text()
    assert contract.startswith("FAIL  reachable") and "does not hold" in contract
    assert not (folder / "requests").exists()


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("dribble", "FAIL  reachable: {target}: no answer (no whole answer within 5.0 s)"),
        ("redirect", "FAIL  no-redirect: GET {target}/products/1: HTTP 302 to {decoy}/products/1"),
    ],
    ids=["dribble", "redirect"],
)
@pytest.mark.run
@pytest.mark.harness  # asserts how the harness behaves, not figures
def test_a_hostile_target_ends_the_run_failed_within_a_bound(
    mode: str, said: str, tmp_path: Path
) -> None:
    """Headers, then a byte every 3 s: the run never left its deploy step (each read had a
    5 s timeout, the check none); now the request is given up after 5 s in all. A 302:
    the check followed it, the contract held and the load went to the other port; now it
    is the breach `no-redirect`. Either way the run ends `failed` with the finding, nothing
    measured, and the decoy hears nothing."""
    shop = Shop(None, None)
    with decoy() as elsewhere, serving(shop) as targets:
        shop.decoy = elsewhere.url
        shop.misbehave(1, mode)
        argv = [sys.executable, "-m", "bench", "run", "--runtime", "external", "--targets",
                ",".join(targets), "--label", "hostile", *DOUBLE_ARGS,
                "--results", str(tmp_path), "--duration", "5"]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-2000:]
    assert took < 30, f"took {took:.0f} s"  # the contract's deadline, with room to start
    assert elsewhere.requests == []
    [folder] = tmp_path.iterdir()
    manifest = json.loads((folder / "run.json").read_text())
    line = said.format(target=targets[1], decoy=elsewhere.url)
    assert manifest["status"] == "failed" and line in manifest["reason"], manifest["reason"]
    assert manifest["strategies"]["hostile"]["status"] == "failed"
    assert line in (folder / "logs" / "hostile" / "contract.txt").read_text()
    assert not (folder / "requests").exists()
