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

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.contract import Catalogue, Findings, check_contract
from bench.runtime.base import Replica
from bench.runtime.processes import Supervisor
from bench.runtime.redis_server import start_redis
from bench.runtime.replicas import ReplicaConfig, start_replicas
from bench.runtime.seed import SeedPlan, seed

CLI_TIMEOUT_S = 30.0

# The project's own replicas: a small catalogue, the seed's 16 probe ids after it.
OWN = SeedPlan(products=100, categories=5)
OWN_CATALOGUE = Catalogue(OWN.products, OWN.categories, tuple(OWN.probe_ids))

# The double's catalogue.
PRODUCTS, CATEGORIES = 20, 4
PROBE_IDS = tuple(range(PRODUCTS + 1, PRODUCTS + 5))
CATALOGUE = Catalogue(PRODUCTS, CATEGORIES, PROBE_IDS)
DOUBLE_ARGS = [
    "--products", str(PRODUCTS),
    "--categories", str(CATEGORIES),
    "--probe-ids", f"{PROBE_IDS[0]}-{PROBE_IDS[-1]}",
]  # fmt: skip

# How a double breaks the contract: "rule" or "rule/how", the rule the checker must name.
BREAKS: dict[str, str] = {
    "reachable": "the second target is a port nobody listens on",
    "product/no-version": "products have no version",
    "product/string-version": 'versions are strings ("1")',
    "catalogue": "product 2 is in c0, not c1",
    "catalogue/not-an-object": "product 2 answers a JSON list, not an object",
    "probe-ids": "the probe's products are in c0, a category the load lists",
    "list": "the items of a category list have no version",
    "http-404/200": "an unknown id answers 200 with a made-up product",
    "http-404/500": "an unknown id answers 500",
    "http-404/patch": "a PATCH of an unknown id answers 500",
    "http-422/404": "a non-numeric id answers 404",
    "http-422/500": "a non-numeric id answers 500",
    "http-422/patch": 'a PATCH with {"price": "free"} is taken as a write',
    "x-replica": "both replicas call themselves the same",
    "replicas-agree": "the second replica reports one version more than the first",
    "replicas-agree/list-version": "the second replica's versions are JSON lists",
    "write": "a PATCH raises the version by 2",
    "x-cache": 'X-Cache says "yes"',
    "x-cache/some-reads": "X-Cache is sent on hits only, absent on misses",
}


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


@pytest.fixture(scope="module")
def own_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    """Two `delete` replicas on their own Redis and SQLite origin, as the local runtime
    starts them; the supervisor stops every process when the module is done. Its signal
    traps stay off: pytest keeps Ctrl-C, and the supervisor still kills on leaving."""
    work = tmp_path_factory.mktemp("contract-own")
    with Supervisor(trap_signals=False) as supervisor:
        redis = start_redis(supervisor, work, log_path=work / "redis-server.log")
        database_url = f"sqlite:///{work / 'origin.db'}"
        seed(database_url, OWN)
        config = ReplicaConfig("delete", redis.url, database_url, 30.0)
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
    assert [r.name for r in findings.replicas] == ["delete-1", "delete-2"]
    assert [r.url for r in findings.replicas] == [r.url for r in own_replicas]


# --- the double ----------------------------------------------------------------------


def product_row(product_id: int, category: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "name": f"product-{product_id}",
        "price": 1.5 + product_id,
        "category": category,
        "version": 1,
        "updated_at": "2026-01-01T00:00:00+00:00",
    }


class Shop:
    """The one catalogue both replicas of a double serve, and each replica's own cache.

    `broken` names a case of BREAKS; `stale` is None (a write invalidates every cache),
    "everywhere" (only the writer's cache) or "next-read" (no cache at all)."""

    def __init__(self, broken: str | None, stale: str | None) -> None:
        assert broken is None or broken in BREAKS, broken
        self.broken, self.stale = broken, stale
        self.lock = threading.Lock()
        probe_category = "c0" if broken == "probe-ids" else "probe"
        self.rows = {i: product_row(i, f"c{(i - 1) % CATEGORIES}") for i in range(1, PRODUCTS + 1)}
        self.rows |= {i: product_row(i, probe_category) for i in PROBE_IDS}
        if broken == "catalogue":
            self.rows[2]["category"] = "c0"
        self.caches: list[dict[int, dict[str, Any]]] = [{}, {}]

    def read(self, replica: int, product_id: int) -> tuple[dict[str, Any] | None, bool]:
        """The product as `replica` serves it (cache-aside), and whether it was a hit."""
        with self.lock:
            cache = self.caches[replica]
            if product_id in cache:
                return dict(cache[product_id]), True
            row = self.rows.get(product_id)
            if row is not None:
                cache[product_id] = dict(row)
            return (None if row is None else dict(row)), False

    def write(self, replica: int, product_id: int, change: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            row = self.rows[product_id]
            row |= change
            row["version"] += 2 if self.broken == "write" else 1
            row["updated_at"] = f"2026-01-02T00:00:{row['version'] % 60:02d}+00:00"
            if self.stale is None:
                for cache in self.caches:
                    cache.pop(product_id, None)
            elif self.stale == "everywhere":
                self.caches[replica].pop(product_id, None)
            return dict(row)

    def listing(self, category: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.rows.values() if r["category"] == category]


def valid_change(body: Any) -> dict[str, Any] | None:
    """A PATCH body the contract accepts: name (str) and/or price (a number), nothing else."""
    if not isinstance(body, dict) or not body or not set(body) <= {"name", "price"}:
        return None
    if "name" in body and not isinstance(body["name"], str):
        return None
    price = body.get("price", 0)
    if isinstance(price, bool) or not isinstance(price, int | float):
        return None
    return body


class DoubleReplica(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, shop: Shop, index: int) -> None:
        super().__init__(("127.0.0.1", 0), DoubleHandler)
        self.shop, self.index = shop, index
        self.name = "double" if shop.broken == "x-replica" else f"double-{index + 1}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class DoubleHandler(BaseHTTPRequestHandler):
    """The contract's three operations, each answer bent where the shop's case says."""

    server: DoubleReplica

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a failing test prints the verdict, not an access log

    def answer(self, status: int, body: Any, hit: bool | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Replica", self.server.name)
        broken = self.server.shop.broken
        if broken == "x-cache":
            self.send_header("X-Cache", "yes")
        elif hit is not None and (hit or broken != "x-cache/some-reads"):
            self.send_header("X-Cache", "hit" if hit else "miss")
        self.end_headers()
        self.wfile.write(raw)

    def product_id(self) -> int | None:
        """The id of /products/{id}; None once a refusal was sent (404 for another path)."""
        match = re.fullmatch(r"/products/([^/]+)", self.path)
        if match is None:
            self.answer(404, {"detail": "no such route"})
            return None
        if not match[1].isdigit():
            broken = self.server.shop.broken
            status = {"http-422/404": 404, "http-422/500": 500}.get(broken or "", 422)
            self.answer(status, {"detail": f"product id {match[1]!r} is not an integer"})
            return None
        return int(match[1])

    def do_GET(self) -> None:
        shop = self.server.shop
        listed = re.fullmatch(r"/categories/([^/]+)/products", self.path)
        if listed:
            items = shop.listing(listed[1])
            if shop.broken == "list":
                items = [{k: v for k, v in item.items() if k != "version"} for item in items]
            self.answer(200, {"category": listed[1], "items": items}, hit=False)
            return
        product_id = self.product_id()
        if product_id is None:
            return
        row, hit = shop.read(self.server.index, product_id)
        if row is None:
            if shop.broken == "http-404/200":
                self.answer(200, product_row(product_id, "c0"), hit=False)
            elif shop.broken == "http-404/500":
                self.answer(500, {"detail": "internal error"})
            else:
                self.answer(404, {"detail": f"no product {product_id}"})
            return
        self.answer(200, self.bent(row), hit=hit)

    def bent(self, row: dict[str, Any]) -> Any:
        """The product as this replica shows it, which is where most breaks happen."""
        broken, second = self.server.shop.broken, self.server.index == 1
        if broken == "product/no-version":
            del row["version"]
        elif broken == "product/string-version":
            row["version"] = str(row["version"])
        elif broken == "catalogue/not-an-object" and row["id"] == 2:
            return [row["id"]]
        elif broken == "replicas-agree" and second:
            row["version"] += 1
        elif broken == "replicas-agree/list-version" and second:
            row["version"] = [row["version"]]
        return row

    def do_PATCH(self) -> None:
        shop = self.server.shop
        product_id = self.product_id()
        if product_id is None:
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if product_id not in shop.rows:
            status = 500 if shop.broken == "http-404/patch" else 404
            self.answer(status, {"detail": f"no product {product_id}"})
            return
        change = valid_change(body)
        if change is None and shop.broken == "http-422/patch":
            change = {}  # the bad field ignored, the write made all the same
        if change is None:
            self.answer(422, {"detail": "name must be a string, price a number"})
            return
        self.answer(200, shop.write(self.server.index, product_id, change))


@pytest.fixture
def double() -> Iterator[Callable[..., list[str]]]:
    """Start a double's two replicas (each its own server thread); all shut down after."""
    with ExitStack() as stack:

        def start(broken: str | None = None, stale: str | None = None) -> list[str]:
            shop = Shop(broken, stale)
            urls = []
            for index in range(2):
                server = DoubleReplica(shop, index)
                thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
                thread.start()
                stack.callback(thread.join, 5)
                stack.callback(server.server_close)
                stack.callback(server.shutdown)
                urls.append(server.url)
            return urls

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


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--probe-ids", "101-116"], "needs --targets"),
        (["--targets", "http://127.0.0.1:9"], "needs --targets URL[,URL...] and --probe-ids"),
        (["--targets", "http://127.0.0.1:9", "--probe-ids", "100-116"], "100 is a load product"),
        (["--targets", "http://127.0.0.1:9", "--probe-ids", "5"], "at least two ids"),
        (["--targets", "ftp://x", "--probe-ids", "101-116"], "'ftp://x' is not an http(s)"),
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
    assert "python -m bench contract: error:" in done.stderr and says in done.stderr
