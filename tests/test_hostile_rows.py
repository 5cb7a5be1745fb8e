"""`bench run --runtime external` against a service that turns hostile once the load runs.

The stand-in (`tests.standin`) keeps the contract, so each run's contract check passes;
once the load has started (its first request file is on disk) a replica switches to a
hostile mode. Whatever it does, the rows must say what happened and no more: a redirect
is an answer, recorded and never followed (a decoy server stands where it points); a
nested `version` is not the product's; a truncated body is no read, fresh or stale; a
request that is never answered still leaves a row, and the report's errors and req/s
are Locust's own. A load that records nothing is no result.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.analysis.tables import load_requests
from bench.runtime.waiting import wait_until
from scenarios.request_rows import TIMEOUT, UNANSWERED, UNPARSEABLE
from tests.standin import DOUBLE_ARGS, Decoy, Shop, decoy, serving

pytestmark = pytest.mark.run  # starts real runs: make test-fast leaves it out

START_TIMEOUT_S = 60.0  # from `bench run` to the load's first request file on disk
RUN_TIMEOUT_S = 150.0  # the whole run: contract check, load, analysis and report
DURATION_S = 6


@pytest.fixture
def elsewhere() -> Iterator[Decoy]:
    """Where a hostile replica's redirects point; it must hear nothing."""
    with decoy() as server:
        yield server


@dataclass
class Run:
    """A finished `bench run` and what it left in its folder."""

    returncode: int
    folder: Path
    output: str

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.folder / "run.json").read_text())

    @property
    def record(self) -> dict[str, Any]:
        [record] = self.manifest["strategies"].values()
        return record

    def rows(self) -> pd.DataFrame:
        return load_requests(self.folder)[0]

    def summary(self) -> pd.Series:
        [row] = pd.read_csv(self.folder / "summary.csv").to_dict("records")
        return pd.Series(row)

    def report(self) -> str:
        return (self.folder / "report.md").read_text()


def bench_run(
    results: Path, targets: list[str], *args: str, once_loading: Callable[[], None] | None = None
) -> Run:
    """`bench run --runtime external` on `targets`; `once_loading` runs as soon as the
    load's first request file exists (the contract check is over by then)."""
    argv = [sys.executable, "-m", "bench", "run", "--runtime", "external",
            "--targets", ",".join(targets), *DOUBLE_ARGS, "--label", "standin",
            "--results", str(results), "--duration", str(DURATION_S), *args]  # fmt: skip
    log = results.parent / f"{results.name}.log"
    with log.open("w") as output:
        harness = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            if once_loading is not None:

                def loading() -> bool:
                    assert harness.poll() is None, log.read_text()[-3000:]
                    return any(results.glob("*/requests/*.csv"))

                wait_until(loading, START_TIMEOUT_S, what="the load's first request file")
                once_loading()
            harness.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if harness.poll() is None:
                harness.kill()
                harness.wait(timeout=15)
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    return Run(harness.returncode, folder, log.read_text())


def test_a_redirect_is_an_answer_recorded_and_never_followed(
    tmp_path: Path, elsewhere: Decoy
) -> None:
    shop = Shop(None, None)
    shop.decoy = elsewhere.url
    with serving(shop) as urls:
        run = bench_run(tmp_path / "results", urls, "--scenario", "update_heavy",
                        once_loading=lambda: shop.misbehave(1, "redirect"))  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    assert elsewhere.requests == [], "a redirect was followed off the targets"
    rows = run.rows()
    redirected = rows[rows["status"].between(300, 399)]
    assert set(redirected["status"]) == {302, 307}, "GETs answer 302, PATCHes 307"
    assert set(redirected["op"].astype(str)) >= {"read", "write"}
    assert (redirected["version"].isna() & (redirected["error"] == "")).all()
    summary = run.summary()
    assert summary["errors"] >= len(redirected) > 0
    assert summary["errors"] == run.record["locust_failures"], "the report agrees with Locust"


def test_a_nested_version_is_not_the_products_and_a_cut_body_is_no_read(tmp_path: Path) -> None:
    """Replica 1 puts a supplier's `"version": 1` before the product's; replica 2 cuts its
    bodies in half. On a consistent service no read is stale (a first-match scan of the
    body counted 39% of them stale), and the cut answers are errors, never reads judged."""
    shop = Shop(None, None)

    def turn_hostile() -> None:
        shop.misbehave(0, "nested-version")
        shop.misbehave(1, "truncate")

    with serving(shop) as urls:
        run = bench_run(tmp_path / "results", urls, "--scenario", "update_heavy",
                        once_loading=turn_hostile)  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    rows = run.rows()
    cut = rows[rows["error"] == UNPARSEABLE]
    assert len(cut) > 50 and (cut["status"] == 200).all() and cut["version"].isna().all()
    assert set(cut["replica"].astype(str)) == {"double-2"}
    nested = rows[
        (rows["replica"] == "double-1") & (rows["op"] == "write") & (rows["status"] == 200)
    ]
    assert nested["version"].max() > 1, "the product's own version, not the supplier's 1"
    summary = run.summary()
    assert summary["unparseable"] == len(cut) and summary["errors"] >= len(cut)
    assert summary["stale_reads"] == 0
    judged = int(((rows["op"] != "write") & (rows["status"] == 200) & (rows["error"] == "")).sum())
    assert summary["reads_checked"] == judged < summary["reads"]
    report = run.report()
    assert f"no stale reads among {judged:,}" in report
    assert f"{int(summary['unparseable']):,} of them a 2xx whose body did not parse" in report
    assert "| unparseable |" in report
    assert summary["errors"] == run.record["locust_failures"], "the report agrees with Locust"


def test_a_hung_replica_leaves_timeouts_and_unanswered_rows_and_rates_are_locusts(
    tmp_path: Path,
) -> None:
    """Replica 2 stops answering once the load runs. Open-loop arrivals keep coming: those
    past the 4 s deadline are timeouts, those still waiting when the load stops (its 2 s
    grace then) unanswered. Each is a row with its send time; errors and req/s are what
    Locust counted, req/s over the load's 6 s, not over the rows' span."""
    shop = Shop(None, None)
    with serving(shop) as urls:
        run = bench_run(tmp_path / "results", urls, "--arrivals", "open", "--rate", "40",
                        "--users", "4", "--request-timeout-s", "4",
                        once_loading=lambda: shop.misbehave(1, "hang"))  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    rows = run.rows()
    hung = rows[rows["replica"] == urls[1]]  # no answer, no X-Replica: its URL names it
    kinds = set(hung["error"].astype(str))
    assert {TIMEOUT, UNANSWERED} <= kinds, kinds
    given_up = rows[rows["error"].isin([TIMEOUT, UNANSWERED])]
    assert (given_up["status"] == 0).all() and given_up["version"].isna().all()
    timeouts = given_up[given_up["error"] == TIMEOUT]
    assert timeouts["latency_ms"].between(4000, 4500).all(), timeouts["latency_ms"].describe()
    first, last = rows["t_start_ns"].min(), rows["t_start_ns"].max()
    assert given_up["t_start_ns"].between(first, last).all()
    assert (given_up["t_end_ns"] > given_up["t_start_ns"]).all()
    record, summary = run.record, run.summary()
    assert record["status"] == "complete" and record["load_s"] == DURATION_S
    assert summary["requests"] == record["rows_recorded"] == record["locust_requests"]
    assert summary["errors"] == record["locust_failures"] >= len(given_up) > 0
    assert summary["rps"] == pytest.approx(record["locust_requests"] / DURATION_S)
    assert summary["rps"] == pytest.approx(40, rel=0.3), "the offered rate, not the rows' span"
    said = re.search(r"standin: (\d+) requests recorded, (\d+) rps, (\d+) errors", run.output)
    assert said is not None, run.output[-2000:]
    assert [int(n) for n in said.groups()] == [
        summary["requests"],
        round(summary["rps"]),
        summary["errors"],
    ], "the console and the report say the same"


def test_a_closed_loop_user_stopped_while_it_waits_leaves_an_unanswered_row(
    tmp_path: Path,
) -> None:
    """Closed loop, the 10 s default deadline: every user that picks the hung replica
    waits there until the load's stop gives up on it (after its 3 s grace), and that
    request is a row too, unanswered, which Locust counts as the report does."""
    shop = Shop(None, None)
    with serving(shop) as urls:
        run = bench_run(tmp_path / "results", urls, "--users", "4", "--rate", "40",
                        once_loading=lambda: shop.misbehave(1, "hang"))  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    rows = run.rows()
    unanswered = rows[rows["error"] == UNANSWERED]
    assert 1 <= len(unanswered) <= 4, "at most one per user"
    assert (unanswered["replica"] == urls[1]).all() and (unanswered["status"] == 0).all()
    assert (unanswered["latency_ms"] > 2500).all(), "waited until the stop gave up on it"
    assert TIMEOUT not in set(rows["error"].astype(str))
    record, summary = run.record, run.summary()
    assert summary["requests"] == record["rows_recorded"] == record["locust_requests"]
    assert summary["errors"] == record["locust_failures"] == len(unanswered)
    assert summary["rps"] == pytest.approx(record["locust_requests"] / DURATION_S)


def test_a_load_that_records_nothing_is_no_result(tmp_path: Path) -> None:
    """One open-loop user at 0.001 req/s (seeded: its first arrival is 924 s away) sends
    nothing in 6 s: the strategy fails, and the run with it."""
    with serving(Shop(None, None)) as urls:
        run = bench_run(tmp_path / "results", urls, "--arrivals", "open", "--rate", "0.001",
                        "--users", "1")  # fmt: skip
    assert run.returncode == 1, run.output[-3000:]
    manifest = run.manifest
    assert manifest["status"] == "failed" and manifest["reason"] == "no request was recorded"
    assert run.record["status"] == "failed"
    assert run.record["reason"] == "no request was recorded"
    assert run.record["rows_recorded"] == 0
