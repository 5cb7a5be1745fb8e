"""`bench run --runtime compose` end to end, on podman: `make test-compose` only.

The unmodified compose.yaml and services/Dockerfile, built and run by podman 4.3 through
podman-compose and the `docker` shim beside this file (tests/compose/bin), on base images
built locally (tests/compose/prepare.sh). What the local runtime's tests ask of a run
folder is asked here too, and that nothing of the project is left: no container, volume
or network. Every fault kind runs once, on `pubsub` (which every kind applies to), so
the compose fault plan is real as well. Skipped unless BENCH_COMPOSE_ENGINE=podman
(`make test-compose` sets it).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.faults.kinds import KINDS
from bench.runtime.compose.plan import PROJECT

pytestmark = [
    pytest.mark.compose,
    pytest.mark.skipif(
        os.environ.get("BENCH_COMPOSE_ENGINE") != "podman",
        reason="make test-compose runs it, on podman prepared by tests/compose/prepare.sh",
    ),
]
RUN = [sys.executable, "-m", "bench", "run", "--runtime", "compose", "--replicas", "2",
       "--duration", "15"]  # fmt: skip
# every kind of bench.faults.kinds, one after another (a test checks none is missing)
FAULTS = ["redis-pause@1+1", "subscriber-drop@3", "redis-partition@4+2:1", "origin-slow@7+1:20",
          "subscriber-delay@7+1:10", "replica-pause@9+1:1", "replica-kill@11+2:2",
          "redis-kill@14+1"]  # fmt: skip


def run_compose(results: Path, *args: str) -> Path:
    done = subprocess.run([*RUN, "--results", str(results), *args], capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    return folder


def left_of_the_project() -> dict[str, list[str]]:
    """Containers, volumes and networks that carry the project's label."""
    label = f"label=com.docker.compose.project={PROJECT}"
    listed = {}
    for kind, argv in [("containers", ["ps", "-a", "--format", "{{.Names}}"]),
                       ("volumes", ["volume", "ls", "--format", "{{.Name}}"]),
                       ("networks", ["network", "ls", "--format", "{{.Name}}"])]:  # fmt: skip
        done = subprocess.run(["podman", *argv, "--filter", label], capture_output=True,
                              text=True, check=True, timeout=60)  # fmt: skip
        listed[kind] = done.stdout.split()
    return listed


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_compose(tmp_path_factory.mktemp("two"), "--strategies", "delete,pubsub")


@pytest.fixture(scope="module")
def faulted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    faults = [arg for fault in FAULTS for arg in ("--fault", fault)]
    return run_compose(tmp_path_factory.mktemp("faults"), "--strategies", "pubsub", *faults)


@pytest.fixture(scope="module")
def lagging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_compose(tmp_path_factory.mktemp("lag"), "--strategies", "delete",
                       "--origin-lag-ms", "200")  # fmt: skip


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_compose(tmp_path_factory.mktemp("libraries"), "--strategies",
                       "cashews,fastapi-cache2")  # fmt: skip


def test_two_strategies_run_to_a_complete_folder(two: Path) -> None:
    manifest = json.loads((two / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["runtime"] == "compose"
    for strategy in ("delete", "pubsub"):
        record = manifest["strategies"][strategy]
        assert record["status"] == "complete" and record["rows_recorded"] > 0, record
        assert (two / "probe" / f"{strategy}.csv").stat().st_size > 0
        assert (two / "logs" / strategy / "replicas.log").stat().st_size > 0
    summary = pd.read_csv(two / "summary.csv").set_index("strategy")
    assert list(summary.index) == ["delete", "pubsub"]
    # errors are data: on a podman network minutes old a replica once lost its Redis and
    # PostgreSQL connections for a few seconds (timeouts; the origin's are 503s now)
    assert (summary["requests"] > 0).all() and (summary["probe_cycles"] > 0).all()
    assert summary.loc["pubsub", "local_hit_ratio"] > 0, "the local tier served reads"
    assert "## Verdicts" in (two / "report.md").read_text()
    assert (two / "report.html").stat().st_size > 0


def test_every_fault_kind_is_applied_on_compose(faulted: Path) -> None:
    assert {f.split("@")[0] for f in FAULTS} == set(KINDS)
    faults = pd.read_csv(faulted / "faults.csv")
    assert list(faults["kind"]) == [f.split("@")[0] for f in FAULTS]
    assert (faults["status"] == "applied").all(), faults
    effects = pd.read_csv(faulted / "fault_effects.csv")
    assert len(effects) == len(FAULTS)
    assert "## Faults" in (faulted / "report.md").read_text()


def test_a_lagging_origin_replica_puts_old_rows_back_in_delete_s_cache(lagging: Path) -> None:
    """postgres-replica, 200 ms behind, serves the reads: delete's misses refill the cache
    from it, so it fails verify and is measured all the same, with stale reads served from
    the cache and from the replica itself."""
    manifest = json.loads((lagging / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["origin_lag_ms"] == 200
    record = manifest["strategies"]["delete"]
    assert record["status"] == "failed_verify" and record["rows_recorded"] > 0, record
    assert (lagging / "logs" / "delete" / "postgres-replica.log").stat().st_size > 0
    [row] = pd.read_csv(lagging / "summary.csv").to_dict("records")
    assert row["stale_reads_cached"] > 0 and row["stale_reads_origin"] > 0, row


def test_library_strategies_run_in_their_own_services(libraries: Path) -> None:
    """cashews and fastapi-cache2 inside the image pyproject.toml's pins built: each passes
    verify as declared (fastapi-cache2 declares no invalidation) and is measured."""
    manifest = json.loads((libraries / "run.json").read_text())
    assert manifest["status"] == "complete", manifest["status"]
    assert manifest["packages"]["cashews"] and manifest["packages"]["fastapi-cache2"]
    for strategy in ("cashews", "fastapi-cache2"):
        record = manifest["strategies"][strategy]
        assert record["status"] == "complete" and record["rows_recorded"] > 0, record
    summary = pd.read_csv(libraries / "summary.csv").set_index("strategy")
    assert (summary["hit_ratio"] > 0).all(), summary["hit_ratio"]


def test_nothing_of_the_project_is_left(
    two: Path, faulted: Path, lagging: Path, libraries: Path
) -> None:
    assert left_of_the_project() == {"containers": [], "volumes": [], "networks": []}
