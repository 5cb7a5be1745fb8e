"""`bench contract` passes the project's own replicas and names each rule a service breaks.

The checker's system under test is an HTTP service the suite did not start, so here, and
only here, that service is a double: two in-process replicas over one catalogue that keep
every promise unless told to break exactly one. A break must be reported as that rule and
nothing else (the checker stops at the first), and the CLI must exit 1 naming it; a cache
that misses a write is a freshness finding, never a breach, so that contract still holds.
Everything the suite runs itself is real: the own-replica tests start redis-server, a
seeded SQLite origin and two `delete` replicas exactly as the local runtime does.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack

import pytest

from bench.contract import Catalogue, Findings, check_contract
from bench.contract.rules import Checker
from bench.runtime.base import Replica
from bench.runtime.local.redis_server import start_redis
from bench.runtime.local.replicas import ReplicaConfig, start_replicas
from bench.runtime.processes import Supervisor
from bench.runtime.seed import SeedPlan, seed
from tests.standin import BREAKS, CATALOGUE, DOUBLE_ARGS, DRIBBLE_S, Shop, decoy, serving

CLI_TIMEOUT_S = 30.0

# The project's own replicas: a small catalogue, the seed's 16 probe ids after it.
OWN = SeedPlan(products=100, categories=5)
OWN_CATALOGUE = Catalogue(OWN.products, OWN.categories, tuple(OWN.probe_ids))


def rule_of(case: str) -> str:
    return case.partition("/")[0]


def bench_contract(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bench", "contract", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def line_of(output: str, rule: str) -> str:
    """The one line of the verdict about `rule` (a rule checked twice gives the last)."""
    lines = [ln for ln in output.splitlines() if re.match(rf"\S+\s+{re.escape(rule)}:", ln)]
    assert lines, f"no line about {rule} in:\n{output}"
    return lines[-1]


# --- the project's own replicas ------------------------------------------------------


# `delete`, and the strategies whose write path is its own beyond a DEL
OWN_STRATEGIES = ("delete", "double-delete", "guarded", "marker")


@pytest.fixture(scope="module", params=OWN_STRATEGIES)
def own_replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Replica]]:
    """Two replicas of one strategy on their own Redis and SQLite origin, as the local
    runtime starts them; the supervisor stops every process when the module is done. Its
    signal traps stay off: pytest keeps Ctrl-C, and the supervisor still kills on leaving."""
    work = tmp_path_factory.mktemp("contract-own")
    with Supervisor(trap_signals=False) as supervisor:
        redis = start_redis(supervisor, work, log_path=work / "redis-server.log")
        database_url = f"sqlite:///{work / 'origin.db'}"
        seed(database_url, OWN)
        config = ReplicaConfig(request.param, redis.url, database_url, 30.0)
        yield list(start_replicas(supervisor, config, 2, work / "logs"))


def test_bench_contract_passes_the_projects_own_replicas(own_replicas: list[Replica]) -> None:
    """What the suite measures must keep the contract it asks of others, freshness too."""
    done = bench_contract(
        "--targets", ",".join(r.url for r in own_replicas),
        "--probe-ids", f"{OWN.probe_ids[0]}-{OWN.probe_ids[-1]}",
        "--products", str(OWN.products),
        "--categories", str(OWN.categories),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "contract v1: the contract holds"
    assert line_of(done.stdout, "fresh-next-read").startswith("fresh ")
    assert line_of(done.stdout, "fresh-everywhere").startswith("fresh ")
    assert "FAIL" not in done.stdout and "STALE" not in done.stdout


def test_check_contract_names_the_own_replicas_by_x_replica(own_replicas: list[Replica]) -> None:
    """The run records replicas by the name they answer with, not by URL, when they send one."""
    findings = check_contract([r.url for r in own_replicas], OWN_CATALOGUE)
    assert findings.holds, "\n".join(findings.lines())
    assert not findings.stale, "\n".join(findings.lines())
    strategy = own_replicas[0].name.rpartition("-")[0]
    assert strategy in OWN_STRATEGIES
    assert [r.name for r in findings.replicas] == [f"{strategy}-1", f"{strategy}-2"]
    assert [r.url for r in findings.replicas] == [r.url for r in own_replicas]


@pytest.fixture
def double() -> Iterator[Callable[..., list[str]]]:
    """Start a double's two replicas (each its own server thread); all shut down after."""
    with ExitStack() as stack:

        def start(broken: str | None = None, stale: str | None = None) -> list[str]:
            return stack.enter_context(serving(Shop(broken, stale)))

        yield start


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback port bound but never listened on: a connection is refused, and no other
    process can take the port while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def verdict(findings: Findings) -> str:
    return "\n".join(findings.lines())


def test_the_double_keeps_the_contract_and_every_rule_has_a_break(
    double: Callable[..., list[str]],
) -> None:
    """A double that failed unbroken would make every break below prove nothing; and a
    rule the checker gains without a break here would go untested, so the two sets match."""
    findings = check_contract(double(), CATALOGUE)
    assert findings.holds and not findings.stale, verdict(findings)
    assert [r.name for r in findings.replicas] == ["double-1", "double-2"]
    assert line_of(verdict(findings), "x-cache").endswith("values seen: hit, miss")
    checked = {c.rule for c in findings.checks if not c.finding}
    assert checked == {rule_of(case) for case in BREAKS}


@pytest.mark.parametrize("case", list(BREAKS))
def test_a_broken_rule_is_named_and_nothing_after_it_is_checked(
    case: str, double: Callable[..., list[str]], closed_url: str
) -> None:
    """One break, one FAIL line naming its rule, exit 1: a user reads what to fix first."""
    rule = rule_of(case)
    targets = double(broken=None if case == "reachable" else case)
    if case == "reachable":
        targets = [targets[0], closed_url]
    findings = check_contract(targets, CATALOGUE)
    assert not findings.holds, verdict(findings)
    assert [c.rule for c in findings.broken] == [rule], verdict(findings)
    assert findings.checks[-1] == findings.broken[0]  # the checker stopped there
    done = bench_contract("--targets", ",".join(targets), *DOUBLE_ARGS)
    assert done.returncode == 1, done.stdout + done.stderr
    assert line_of(done.stdout, rule).startswith("FAIL ")
    assert done.stdout.splitlines()[-1] == f"contract v1: the contract does not hold: {rule}"


@pytest.mark.slow
def test_a_replica_that_keeps_the_old_version_is_a_finding_not_a_breach(
    double: Callable[..., list[str]],
) -> None:
    """The second replica never drops its cached copy: the write is visible where it was
    made but not everywhere. The service is still measured (exit 0); the run says why not
    fresh."""
    targets = double(stale="everywhere")
    findings = check_contract(targets, CATALOGUE)
    assert findings.holds, verdict(findings)
    assert [c.rule for c in findings.stale] == ["fresh-everywhere"]
    assert f"{targets[0]} fresh" in findings.stale[0].detail
    assert f"{targets[1]} still stale" in findings.stale[0].detail
    again = double(stale="everywhere")  # the first still holds the old copy: not agreeing
    done = bench_contract("--targets", ",".join(again), *DOUBLE_ARGS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert line_of(done.stdout, "fresh-next-read").startswith("fresh ")
    assert line_of(done.stdout, "fresh-everywhere").startswith("STALE ")
    assert done.stdout.splitlines()[-1] == "contract v1: the contract holds"


@pytest.mark.slow
def test_a_write_invisible_on_the_next_read_is_a_finding_too(
    double: Callable[..., list[str]],
) -> None:
    """No cache is invalidated: even the replica that took the write serves the old version."""
    started = time.monotonic()
    findings = check_contract(double(stale="next-read"), CATALOGUE)
    assert findings.holds, verdict(findings)
    assert [c.rule for c in findings.stale] == ["fresh-next-read", "fresh-everywhere"]
    assert line_of(verdict(findings), "fresh-next-read").startswith("STALE ")
    assert time.monotonic() - started < 10  # a service that never turns fresh cannot hang it


# --- a hostile or broken service ----------------------------------------------------


@pytest.mark.parametrize(
    ("replica", "mode", "said"),
    [(0, "redirect", "GET"), (1, "redirect", "GET"), (1, "redirect-patch", "PATCH")],
)
def test_a_redirect_is_a_breach_naming_its_location_and_never_followed(
    replica: int, mode: str, said: str
) -> None:
    """A target that answers 302 (GET) or 307 (PATCH) would send the load elsewhere: the
    check stops at `no-redirect`, names the Location, and the decoy hears nothing. Before,
    urllib followed: the decoy received the check's reads, and the contract held."""
    shop = Shop(None, None)
    with decoy() as elsewhere, serving(shop) as targets:
        shop.decoy = elsewhere.url
        shop.misbehave(replica, mode)
        findings = check_contract(targets, CATALOGUE)
        assert [c.rule for c in findings.broken] == ["no-redirect"], verdict(findings)
        detail = findings.broken[0].detail
        code = 302 if said == "GET" else 307
        assert detail.startswith(f"{said} {targets[replica]}/products/"), detail
        assert f"HTTP {code} to {elsewhere.url}/products/" in detail, detail
        done = bench_contract("--targets", ",".join(targets), *DOUBLE_ARGS)
        assert done.returncode == 1, done.stdout + done.stderr
        assert line_of(done.stdout, "no-redirect").startswith("FAIL ")
        assert done.stdout.splitlines()[-1].endswith("does not hold: no-redirect")
        assert elsewhere.requests == []


@pytest.mark.slow
def test_a_dribbling_target_ends_the_check_at_its_deadline_naming_the_rule() -> None:
    """Headers, then a byte every 3 s: each read of the body came within its 5 s socket
    timeout, so the check ran past 90 s. Now the check stops at `--deadline` and says which
    rule it was in (exit 1)."""
    shop = Shop(None, None)
    with serving(shop) as targets:
        shop.misbehave(0, "dribble")
        started = time.monotonic()
        done = bench_contract("--targets", ",".join(targets), *DOUBLE_ARGS, "--deadline", "4")
        took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  deadline: 4 s ran out in rule reachable" in done.stdout.splitlines()
    assert done.stdout.splitlines()[-1] == "contract v1: the contract does not hold: deadline"
    assert done.stderr == ""
    assert took < 4 + 5, f"took {took:.1f} s"


@pytest.mark.slow
def test_a_request_has_5_s_in_all_whatever_is_left_of_the_deadline() -> None:
    """Within the default 30 s deadline, a dribbling answer is given up after 5 s: the
    target is unreachable, said as such, long before its body would have ended."""
    shop = Shop(None, None)
    with serving(shop) as targets:
        shop.misbehave(1, "dribble")
        started = time.monotonic()
        findings = check_contract(targets, CATALOGUE)
        took = time.monotonic() - started
    assert [c.rule for c in findings.broken] == ["reachable"], verdict(findings)
    assert "no whole answer within 5.0 s" in findings.broken[0].detail
    assert 5 <= took < 5 + 2 * DRIBBLE_S, f"took {took:.1f} s"


class HangsAtReplicaNames(Checker):
    """The checker as it is, but the second replica hangs from its `x-replica` rule on."""

    shop: Shop

    def replica_names(self) -> None:
        self.shop.misbehave(1, "hang")
        super().replica_names()


@pytest.mark.slow
def test_a_hung_target_is_given_up_when_the_deadline_runs_out_in_a_later_rule() -> None:
    """The second replica stops answering once the check has passed `no-redirect`: the
    deadline then names the rule it was checking, not the first one."""
    shop = Shop(None, None)
    with serving(shop) as targets:
        checker = HangsAtReplicaNames(targets, CATALOGUE, deadline_s=3)
        checker.shop = shop
        started = time.monotonic()
        findings = checker.run()
        took = time.monotonic() - started
    assert shop.hostile == {1: "hang"}
    assert findings.checks[-1].line() == "FAIL  deadline: 3 s ran out in rule x-replica"
    assert took < 3 + 2, f"took {took:.1f} s"


@pytest.mark.parametrize("replicas", [(0,), (0, 1)])
def test_a_nested_version_is_not_the_products(replicas: tuple[int, ...]) -> None:
    """`"supplier": {"version": 1}` before the product's own version: the check reads the
    top-level one (scenarios.bodies), so the contract holds and the write is + 1."""
    shop = Shop(None, None)
    with serving(shop) as targets:
        for replica in replicas:
            shop.misbehave(replica, "nested-version")
        findings = check_contract(targets, CATALOGUE)
    assert findings.holds and not findings.stale, verdict(findings)
    assert "version 1 -> 2" in line_of(verdict(findings), "write")


@pytest.mark.parametrize(("replica", "rule"), [(0, "product"), (1, "replicas-agree")])
def test_truncated_json_is_a_breach_saying_so_not_a_crash(replica: int, rule: str) -> None:
    """A 200 whose JSON is cut in the middle: the rule that reads it fails, saying the body
    does not parse; the CLI prints its verdict (exit 1), no traceback."""
    shop = Shop(None, None)
    with serving(shop) as targets:
        shop.misbehave(replica, "truncate")
        findings = check_contract(targets, CATALOGUE)
        assert [c.rule for c in findings.broken] == [rule], verdict(findings)
        assert "the body does not parse as JSON" in findings.broken[0].detail
        done = bench_contract("--targets", ",".join(targets), *DOUBLE_ARGS)
    assert done.returncode == 1 and done.stderr == "", done.stdout + done.stderr
    assert line_of(done.stdout, rule).startswith("FAIL ")


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--probe-ids", "101-116"], "needs --targets"),
        (["--targets", "http://127.0.0.1:9"], "needs --targets URL[,URL...] and --probe-ids"),
        (["--targets", "http://127.0.0.1:9", "--probe-ids", "100-116"], "100 is a load product"),
        (["--targets", "http://127.0.0.1:9", "--probe-ids", "5"], "at least two ids"),
        (
            ["--targets", "ftp://x", "--probe-ids", "101-116"],
            "bad target 'ftp://x': the scheme must be http or https",
        ),
        (
            ["--targets", "http://127.0.0.1:99999", "--probe-ids", "101-116"],
            "bad target 'http://127.0.0.1:99999': port must be 1-65535",
        ),
        (
            ["--targets", "http://127.0.0.1:0", "--probe-ids", "101-116"],
            "bad target 'http://127.0.0.1:0': port must be 1-65535",
        ),
        (["--targets", "http://:8000", "--probe-ids", "101-116"], "'http://:8000': no host"),
        (
            ["--targets", "http://127.0.0.1:9/?a=1", "--probe-ids", "101-116"],
            "'http://127.0.0.1:9/?a=1': a query (?...) has no place in a base URL",
        ),
        (
            ["--targets", "http://127.0.0.1:9", "--probe-ids", "101-116", "--deadline", "0"],
            "--deadline: must be a positive number of seconds, got 0",
        ),
        (
            ["--targets", "http://127.0.0.1:9", "--probe-ids", "101-116", "--deadline", "nan"],
            "--deadline: must be a positive number of seconds, got nan",
        ),
        (["--targets", "http://127.0.0.1:9", "--probe-ids", "116-101"], "1 <= FIRST <= LAST"),
        (["--targets", "http://a:1,http://a:1", "--probe-ids", "101-116"], "listed twice"),
        (
            ["--targets", "http://127.0.0.1:9", "--probe-ids", "201-216", "--categories", "200"],
            "--categories cannot exceed --products",
        ),
    ],
    ids=[
        "no-targets",
        "no-probe-ids",
        "probe-id-in-catalogue",
        "one-probe-id",
        "ftp-target",
        "port-99999",
        "port-0",
        "no-host",
        "query",
        "deadline-0",
        "deadline-nan",
        "reversed-range",
        "target-twice",
        "more-categories",
    ],
)
def test_bad_input_is_exit_2_and_one_line(args: Sequence[str], says: str) -> None:
    """Refused before any request: port 9 (discard) is never asked, and nothing is printed
    but the error."""
    done = bench_contract(*args, "--products", "100")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "cache-bench contract: error:" in done.stderr and says in done.stderr
