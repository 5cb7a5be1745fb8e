"""The probe against a hostile stand-in service (tests/standin.py), run as the harness runs
it: `python -m bench.probe`, a process of its own.

A replica that hangs, redirects, cuts its bodies short or dribbles them, and one that dies
and comes back: the probe keeps writing cycles through each, counts every request that
brought no version in its row's `errors` (which censors the row), measures the replica
again once it behaves, exits 0, and sends nothing to a host that is not a target. A
probe that cannot go on says so, and the harness says it in run.json and first in the
report.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.experiment import note_probe, unfinished
from bench.layout import RunFolder
from bench.manifest import Manifest
from bench.probe.cycle import Cycle
from bench.probe.poller import read_product, write
from bench.probe.status import status_path
from bench.report.render import md_escape
from bench.report.run import build_report
from bench.run_config import RunConfig
from bench.runtime.ports import free_ports
from tests.standin import PROBE_IDS, Decoy, Shop, decoy, replica, serving

ROOT = Path(__file__).resolve().parents[1]
PROBE = [sys.executable, "-m", "bench.probe", "--keys", ",".join(map(str, PROBE_IDS)),
         "--strategy", "x", "--ttl", "1"]  # fmt: skip
NAMES = ["--name", "double-1", "--name", "double-2"]  # the stand-in's X-Replica
WAIT_S = 20.0  # for any one thing the probe must do: cycles are a few ms to 3 s apart


@contextmanager
def decoy_for(shop: Shop) -> Iterator[Decoy]:
    """The stand-in's decoy, where the shop's redirects point."""
    with decoy() as server:
        shop.decoy = server.url
        yield server


@contextmanager
def probing(targets: list[str], out: Path, *options: str) -> Iterator[subprocess.Popen[str]]:
    """The probe on `targets`, its output in `out`.log; stopped on leaving if still there."""
    argv = [*PROBE, "--targets", ",".join(targets), *NAMES, "--out", str(out), *options]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_suffix(".log").open("w") as log:
        probe = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        yield probe
    finally:
        if probe.poll() is None:
            probe.kill()
        probe.wait(10)


def rows(out: Path) -> list[dict[str, Any]]:
    """The probe's whole rows so far (one it is writing is skipped), typed."""
    if not out.exists():
        return []
    whole = []
    with out.open(newline="") as f:
        for row in csv.DictReader(f):
            if None in row.values() or row.get("errors") in (None, ""):
                continue
            whole.append(row | {"cycle": int(row["cycle"]), "errors": int(row["errors"]),
                                "censored": row["censored"] == "True"})  # fmt: skip
    return whole


def fresh(row: dict[str, Any]) -> bool:
    return not row["censored"] and row["errors"] == 0 and row["convergence_ms"] != ""


def wait_for(
    probe: subprocess.Popen[str], out: Path, what: str, found: Callable[[list[dict]], Any]
) -> Any:
    """Poll the probe's rows until `found` returns something true; the probe must live."""
    deadline = time.monotonic() + WAIT_S
    while not (result := found(rows(out))):
        log = out.with_suffix(".log")
        assert probe.poll() is None, f"the probe exited ({probe.returncode}): {log.read_text()}"
        assert time.monotonic() < deadline, f"no {what} in {WAIT_S} s: {log.read_text()}"
        time.sleep(0.05)
    return result


def last_cycle(found: list[dict]) -> int:
    return max((r["cycle"] for r in found), default=-1)


def of(found: list[dict], name: str, after: int) -> list[dict]:
    return [r for r in found if r["replica"] == name and r["cycle"] > after]


def stop(probe: subprocess.Popen[str]) -> int:
    """SIGTERM, as the harness stops it when the load is done."""
    probe.send_signal(signal.SIGTERM)
    return probe.wait(15)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hang", "redirect", "redirect-patch", "truncate", "dribble"])
def test_the_probe_keeps_going_through_a_misbehaving_replica(tmp_path: Path, mode: str) -> None:
    out, shop = tmp_path / "x.csv", Shop(None, None)
    with ExitStack() as stack:
        decoy, urls = stack.enter_context(decoy_for(shop)), stack.enter_context(serving(shop))
        probe = stack.enter_context(probing(urls, out, "--duration", "60"))
        wait_for(probe, out, "fresh cycle of double-2", lambda f: of(f, "double-2", -1))
        began = last_cycle(rows(out))
        shop.misbehave(1, mode)
        # a cycle that met it, and one more begun after it, double-1 measured all along
        met = wait_for(probe, out, f"censored double-2 row ({mode})",
                       lambda f: [r for r in of(f, "double-2", began) if r["errors"]])  # fmt: skip
        hit = last_cycle(met)
        during = wait_for(probe, out, "cycle after that",
                          lambda f: [r for r in of(f, "double-1", hit) if fresh(r)])  # fmt: skip
        shop.misbehave(1, None)
        ended = last_cycle(rows(out))
        wait_for(probe, out, "fresh double-2 row after it behaves again",
                 lambda f: [r for r in of(f, "double-2", ended) if fresh(r)])  # fmt: skip
        assert stop(probe) == 0
    found, log = rows(out), out.with_suffix(".log").read_text()
    assert decoy.requests == [], "the probe followed a redirect"
    censored = [r for r in of(found, "double-2", began) if r["censored"]]
    assert censored and all(r["convergence_lo_ms"] == "" or r["errors"] for r in censored)
    assert during[0]["writer"] == "double-1", "the write goes through a replica that answered"
    if mode != "redirect-patch":  # a read that failed; a write is said as a failed cycle
        assert re.search(r"replica double-2: .+ \(cycle \d+\)", log), log
        assert "replica double-2 answers again" in log, log
    status = json.loads(status_path(out).read_text())
    assert status["state"] == "ended" and status["errors"] >= 1
    if mode == "redirect-patch":  # its reads answered, its writes not: failed cycles
        failed = {r["cycle"] for r in found if r["writer"] == "double-2" and r["errors"]}
        assert failed and all(r["censored"] for r in found if r["cycle"] in failed)
        assert status["failed"] == len(failed) and "failed: write: answered 307" in log
        assert "writes go through again" in log
    assert status["cycles"] == len({r["cycle"] for r in found})


def test_a_redirect_is_an_answer_for_the_probe_read_and_write(tmp_path: Path) -> None:
    shop, key = Shop(None, None), PROBE_IDS[0]

    async def ask(url: str) -> tuple[str, str]:
        async with aiohttp.ClientSession() as session:
            read = await read_product(session, f"{url}/products/{key}")
            written = await write(session, f"{url}/products/{key}", Cycle(0, key, 0))
            return read.error, written.error

    with decoy_for(shop) as decoy, serving(shop) as urls:
        shop.misbehave(0, "redirect")
        assert asyncio.run(ask(urls[0])) == ("answered 302", "answered 307")
    assert decoy.requests == []


@pytest.mark.slow
def test_a_nested_version_is_not_the_products_and_a_duration_ends_the_probe(
    tmp_path: Path,
) -> None:
    out, shop = tmp_path / "x.csv", Shop(None, None)
    shop.misbehave(1, "nested-version")  # "supplier": {"version": 1} before its own
    with serving(shop) as urls, probing(urls, out, "--duration", "2") as probe:
        assert probe.wait(30) == 0
    found = rows(out)
    assert len({r["cycle"] for r in found}) >= 5 and all(fresh(r) for r in found)
    assert json.loads(status_path(out).read_text())["state"] == "ended"


def test_the_probe_survives_a_replica_death_and_measures_it_again_after_restart(
    tmp_path: Path,
) -> None:
    out, shop = tmp_path / "x.csv", Shop(None, None)
    with ExitStack() as stack:
        stack.callback(shop.closed.set)
        first = stack.enter_context(replica(shop, 0))
        with ExitStack() as second_lives:
            second = second_lives.enter_context(replica(shop, 1))
            port, urls = second.server_address[1], [first.url, second.url]
            probe = stack.enter_context(probing(urls, out, "--duration", "60"))
            wait_for(probe, out, "fresh cycle of double-2", lambda f: of(f, "double-2", -1))
        died = last_cycle(rows(out))  # double-2 is gone: its port refuses
        dead = wait_for(probe, out, "second cycle without double-2",
                        lambda f: (lambda c: c[1:] and c)(
                            [r for r in of(f, "double-2", died) if r["censored"]]))  # fmt: skip
        assert all(r["errors"] >= 1 and r["convergence_ms"] == "" for r in dead[1:])
        assert [r for r in of(rows(out), "double-1", died) if fresh(r)], "double-1 measured"
        with replica(shop, 1, port):  # restarted on its port
            back = last_cycle(rows(out))
            wait_for(probe, out, "fresh double-2 row after its restart",
                     lambda f: [r for r in of(f, "double-2", back) if fresh(r)])  # fmt: skip
            assert stop(probe) == 0
    assert "replica double-2 answers again" in out.with_suffix(".log").read_text()


def harness_records(run: RunFolder, strategy: str) -> dict[str, Any]:
    """What the harness does once a strategy's load is over, then its report: run.json
    and report.md as a run of that strategy writes them."""
    config = RunConfig(strategies=(strategy,), duration_s=5.0, results=run.path.parent)
    manifest = Manifest(run.path, config.as_json())
    record = manifest.strategy(strategy)
    record.update(status="complete", rows_recorded=1)
    note_probe(record, run, strategy)
    manifest.finish("complete", unfinished(manifest.data["strategies"]))
    build_report(run.path)
    return json.loads(run.manifest.read_text())


def test_a_probe_that_cannot_go_on_says_so_and_the_run_says_it_first(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    nobody = [f"http://127.0.0.1:{port}" for port in free_ports(2)]  # every target refuses
    argv = [*PROBE, "--targets", ",".join(nobody), "--name", "a,1", "--name", "b",
            "--out", str(run.probe_file("delete")), "--duration", "60",
            "--give-up-s", "1"]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    said = done.stderr.splitlines()[-1]
    assert re.fullmatch(r"probe stopped at [\d.]+ s: no replica answered a read of a probe"
                        r" product in 1 s \(last: (a,1|b): .+\)", said), said  # fmt: skip
    assert "replica a,1: " in done.stderr, "a name with a comma stays one name"
    status = json.loads(run.probe_status("delete").read_text())
    assert status["state"] == "stopped" and status["cycles"] == 0

    manifest = harness_records(run, "delete")
    record = manifest["strategies"]["delete"]
    stopped = record["probe_stopped"]
    assert said == f"probe stopped at {stopped['at_s']:g} s: {stopped['reason']}"
    assert stopped["how"] == "stopped" and 1 <= stopped["at_s"] < 10
    assert record["status"] == "failed" and record["reason"].startswith(said)
    assert manifest["status"] == "complete"
    assert manifest["reason"] == "strategies that failed: delete"
    report = (run.path / "report.md").read_text()
    opening = report.split("## What was run")[0]
    assert f"> **⚠ delete: {md_escape(said)}; the probe's figures cover only" in opening


def test_a_killed_probe_is_said_too_with_its_cycles_kept(tmp_path: Path) -> None:
    run, shop = RunFolder(tmp_path / "run"), Shop(None, None)
    out = run.probe_file("delete")
    with serving(shop) as urls, probing(urls, out, "--duration", "60") as probe:
        wait_for(probe, out, "a cycle", lambda f: f)
        probe.kill()  # SIGKILL: no word from it
        probe.wait(10)
    manifest = harness_records(run, "delete")
    record = manifest["strategies"]["delete"]
    assert record["status"] == "complete", "it recorded cycles: the strategy stands"
    stopped = record["probe_stopped"]
    assert stopped["how"] == "killed" and stopped["at_s"] is not None
    assert "ended without a word" in stopped["reason"]
    assert "probe stopped at" in (run.path / "report.md").read_text().split("## What")[0]


def test_a_probe_that_ended_as_asked_leaves_no_mark(tmp_path: Path) -> None:
    run, shop = RunFolder(tmp_path / "run"), Shop(None, None)
    with serving(shop) as urls, probing(urls, run.probe_file("delete"), "--duration", "60") as p:
        wait_for(p, run.probe_file("delete"), "a cycle", lambda f: f)
        assert stop(p) == 0
    manifest = harness_records(run, "delete")
    assert "probe_stopped" not in manifest["strategies"]["delete"]
    assert "probe stopped" not in (run.path / "report.md").read_text()


def test_the_status_file_is_where_the_run_folder_says() -> None:
    run = RunFolder(Path("run"))
    assert status_path(run.probe_file("pubsub")) == run.probe_status("pubsub")
