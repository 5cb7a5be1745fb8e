"""The contract a service must meet to be measured (docs/contract.md), checked live.

The suite measures staleness from versions alone, so it needs a service to keep a few
promises: products 1..N in categories `c{(i-1) % C}`, a `version` that a write raises by
exactly one, lists that embed their products' versions, probe-only ids that no load
touches, and plain refusals (404, 422) of what it cannot serve. `check_contract` sees
whether a running service keeps them, before anyone measures it: `bench contract` alone,
and `bench run --runtime external` first.

Freshness is a finding, not a rule. The check's write is the first the suite sends, so
it is made the guide's experiment: every target reads the product first (each cache then
holds the old value), the write goes through the first target, the next read there must
show it ("a write is visible on the next read"), then every target is read until it
serves the write or `FRESH_WITHIN_S` pass. A service that fails is still measured, and
its report says so first; a bug that bites once (the first invalidation after a fresh
deployment lost) shows only here, which is why no write of the suite may come earlier.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.runtime.base import Replica
from services.openapi import CONTRACT_VERSION

FRESH_WITHIN_S = 2.0
REQUEST_TIMEOUT_S = 5.0
ABSENT_ID = 2**31 - 1  # the largest 32-bit id: a catalogue the suite measures never holds it
CACHE_VALUES = ("local", "redis", "stale", "hit", "miss")  # X-Cache, any case
PRODUCT_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "name": (str,),
    "price": (int, float),
    "category": (str,),
    "version": (int,),
}
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Check:
    """One line of the verdict: a rule kept or broken, or a finding (never a breach)."""

    rule: str
    ok: bool
    detail: str
    finding: bool = False

    def line(self) -> str:
        mark = ("fresh" if self.ok else "STALE") if self.finding else ("ok" if self.ok else "FAIL")
        return f"{mark:<5} {self.rule}: {self.detail}"


@dataclass(frozen=True)
class Catalogue:
    """The layout the load assumes: products 1..N, product i in `c{(i-1) % C}`."""

    products: int
    categories: int
    probe_ids: tuple[int, ...]  # the last is the write's, the others the probe's

    def category_of(self, product_id: int) -> str:
        return f"c{(product_id - 1) % self.categories}"


@dataclass
class Findings:
    checks: list[Check] = field(default_factory=list)
    replicas: list[Replica] = field(default_factory=list)  # named by X-Replica, else URL

    @property
    def holds(self) -> bool:
        return all(c.ok for c in self.checks if not c.finding)

    @property
    def broken(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and not c.finding]

    @property
    def stale(self) -> list[Check]:
        """The freshness findings that failed: a reason the run records `failed_verify`."""
        return [c for c in self.checks if not c.ok and c.finding]

    def lines(self) -> list[str]:
        verdict = (
            "the contract holds"
            if self.holds
            else f"the contract does not hold: {', '.join(c.rule for c in self.broken)}"
        )
        return [*(c.line() for c in self.checks), f"contract v{CONTRACT_VERSION}: {verdict}"]


class Broken(Exception):
    """A rule is broken and the checks after it would only repeat it."""


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer at all
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    error: str = ""

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


def call(method: str, url: str, body: Any = None) -> Answer:
    """One request, never raising: a refusal is an Answer with its status, no answer is 0."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    try:
        with _opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, exc.headers, exc.read()
    except (OSError, ValueError) as exc:  # refused, reset, timed out, a malformed URL
        return Answer(0, {}, None, str(getattr(exc, "reason", exc)))
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Answer(status, {k.lower(): v for k, v in headers.items()}, parsed)


def field_of(body: Any, name: str) -> Any:
    """A field of a JSON body, None when the body is no object (a list, a string, nothing)."""
    return body.get(name) if isinstance(body, dict) else None


def is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def product_problem(body: Any, product_id: int) -> str:
    """What is wrong with a product body, or "" when it has the contract's fields."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    for name, types in PRODUCT_FIELDS.items():
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, types):
            kind = " or ".join(t.__name__ for t in types)
            return f"field {name!r} is {json.dumps(value)}, not {kind}"
    if body["id"] != product_id:
        return f"asked for product {product_id}, got id {body['id']}"
    return ""


class Checker:
    """The contract's rules in order; each appends one line, the first broken one stops."""

    def __init__(self, targets: Sequence[str], catalogue: Catalogue) -> None:
        self.targets = [t.rstrip("/") for t in targets]
        self.catalogue = catalogue
        self.findings = Findings()
        self.seen_cache: set[str] = set()
        self.cache_absent = 0

    def note(self, rule: str, ok: bool, detail: str, *, finding: bool = False) -> None:
        self.findings.checks.append(Check(rule, ok, detail, finding))
        if not ok and not finding:
            raise Broken(rule)

    def get(self, target: str, path: str) -> Answer:
        answer = call("GET", target + path)
        self.saw(answer)
        return answer

    def saw(self, answer: Answer) -> None:
        """Tally X-Cache on a served read: absent is allowed, a value we cannot read is not."""
        if answer.status != 200:
            return
        value = answer.header("x-cache").strip().lower()
        if not value:
            self.cache_absent += 1
        elif value not in CACHE_VALUES:
            self.note("x-cache", False, f"X-Cache {value!r} is none of {', '.join(CACHE_VALUES)}")
        else:
            self.seen_cache.add(value)

    def run(self) -> Findings:
        steps: list[Callable[[], None]] = [
            self.reachable,
            self.products,
            self.catalogue_layout,
            self.lists,
            self.refusals,
            self.replica_names,
            self.agreement,
            self.write,
            self.bad_writes,
            self.cache_header,
        ]
        try:
            for step in steps:
                step()
        except Broken:
            pass
        if not self.findings.replicas:
            self.findings.replicas = [Replica(url, url) for url in self.targets]
        return self.findings

    def reachable(self) -> None:
        for target in self.targets:
            answer = self.get(target, "/products/1")
            said = f"HTTP {answer.status}" if answer.status else f"no answer ({answer.error})"
            self.note("reachable", answer.status != 0, f"{target}: {said}")

    def products(self) -> None:
        """Every catalogue edge and probe id is a product with the contract's fields."""
        ids = list(dict.fromkeys([1, self.catalogue.products, *self.catalogue.probe_ids]))
        for product_id in ids:
            answer = self.get(self.targets[0], f"/products/{product_id}")
            problem = product_problem(answer.body, product_id) if answer.status == 200 else ""
            if answer.status != 200 or problem:
                self.note(
                    "product",
                    False,
                    f"GET /products/{product_id}:"
                    f" {problem or f'HTTP {answer.status}, the contract says 200'}",
                )
        self.note(
            "product",
            True,
            f"{len(ids)} ids (1, {self.catalogue.products} and the probe's)"
            f" answer with {', '.join(PRODUCT_FIELDS)}",
        )

    def catalogue_layout(self) -> None:
        """Product i in c{(i-1) % C}; the probe's ids in no category the load reads."""
        last = min(self.catalogue.categories, self.catalogue.products)
        sample = list(dict.fromkeys([*range(1, last + 1), self.catalogue.products]))
        for product_id in sample:
            got = field_of(self.get(self.targets[0], f"/products/{product_id}").body, "category")
            want = self.catalogue.category_of(product_id)
            if got != want:
                self.note(
                    "catalogue",
                    False,
                    f"product {product_id} is in {got!r}; the layout"
                    f" c{{(i-1) % {self.catalogue.categories}}} puts it in {want!r}",
                )
        self.note(
            "catalogue",
            True,
            f"products 1..{last} and {self.catalogue.products} in"
            f" c{{(i-1) % {self.catalogue.categories}}}",
        )
        load = {f"c{c}" for c in range(self.catalogue.categories)}
        for product_id in self.catalogue.probe_ids:
            got = field_of(self.get(self.targets[0], f"/products/{product_id}").body, "category")
            if got in load:
                self.note(
                    "probe-ids",
                    False,
                    f"probe product {product_id} is in {got!r}, a category the load lists",
                )
        self.note(
            "probe-ids",
            True,
            f"{len(self.catalogue.probe_ids)} probe products in no category the load lists",
        )

    def lists(self) -> None:
        answer = self.get(self.targets[0], "/categories/c0/products")
        items = answer.body.get("items") if isinstance(answer.body, dict) else None
        if answer.status != 200 or not isinstance(items, list) or not items:
            self.note(
                "list",
                False,
                f"GET /categories/c0/products: HTTP {answer.status},"
                " wanted a JSON object whose `items` is a non-empty list",
            )
        for item in items:
            problem = product_problem(item, item.get("id") if isinstance(item, dict) else -1)
            if not problem and item["category"] != "c0":
                problem = f"product {item['id']} is listed in c0 but says {item['category']!r}"
            if problem:
                self.note("list", False, f"an item of c0: {problem}")
        self.note(
            "list",
            True,
            f"GET /categories/c0/products: {len(items)} products, each with its version",
        )

    def refusals(self) -> None:
        for path, want in [(f"/products/{ABSENT_ID}", 404), ("/products/abc", 422)]:
            answer = self.get(self.targets[0], path)
            self.note(
                f"http-{want}",
                answer.status == want,
                f"GET {path}: HTTP {answer.status}, the contract says {want}",
            )

    def replica_names(self) -> None:
        """X-Replica is optional; where every target sends one, the names must differ."""
        named = [self.get(t, "/products/1").header("x-replica").strip() for t in self.targets]
        if not all(named):
            self.note("x-replica", True, "absent; the target URL names each replica")
            return
        twice = sorted({n for n in named if named.count(n) > 1})
        self.note(
            "x-replica",
            not twice,
            f"{', '.join(named)}"
            + (
                f"; {', '.join(twice)} answered for more than one target (a load balancer's URL?)"
                if twice
                else ""
            ),
        )
        self.findings.replicas = [Replica(n, t) for n, t in zip(named, self.targets, strict=True)]

    def versions(self, product_id: int) -> list[Any]:
        answers = [self.get(t, f"/products/{product_id}") for t in self.targets]
        return [field_of(a.body, "version") for a in answers]

    def agreement(self) -> None:
        """Before the write every target reads the product: each cache holds its old value."""
        before = self.versions(self.catalogue.probe_ids[-1])
        self.note(
            "replicas-agree",
            all(is_version(v) and v == before[0] for v in before),
            f"product {self.catalogue.probe_ids[-1]} at versions {before} before a write",
        )
        self.before = before[0]

    def write(self) -> None:
        """The suite's first write, made the guide's freshness experiment."""
        product_id, first = self.catalogue.probe_ids[-1], self.targets[0]
        path = f"/products/{product_id}"
        answer = call("PATCH", first + path, {"name": f"contract check {time.time_ns()}"})
        acked = time.monotonic()
        written = field_of(answer.body, "version")
        self.note(
            "write",
            answer.status == 200 and is_version(written) and written == self.before + 1,
            f"PATCH {path}: HTTP {answer.status}, version {self.before} -> {written}"
            ", the contract says + 1",
        )
        served = field_of(self.get(first, path).body, "version")
        self.note(
            "fresh-next-read",
            served == written,
            f"the next read on {first} served version {served}"
            f" after the write acknowledged {written}",
            finding=True,
        )
        late = {t: fresh_after(lambda t=t: self.get(t, path), written, acked) for t in self.targets}
        self.note(
            "fresh-everywhere",
            all(s is not None for s in late.values()),
            "; ".join(f"{t} {freshness(s)}" for t, s in late.items()),
            finding=True,
        )

    def bad_writes(self) -> None:
        """After the write: a refusal the service mistook for a write would come first."""
        product_id = self.catalogue.probe_ids[-1]
        for path, body, want in [
            (f"/products/{product_id}", {"price": "free"}, 422),
            (f"/products/{ABSENT_ID}", {"name": "x"}, 404),
        ]:
            answer = call("PATCH", self.targets[0] + path, body)
            self.note(
                f"http-{want}",
                answer.status == want,
                f"PATCH {path} {json.dumps(body)}: HTTP {answer.status}, the contract says {want}",
            )

    def cache_header(self) -> None:
        if self.seen_cache and not self.cache_absent:
            self.note("x-cache", True, f"values seen: {', '.join(sorted(self.seen_cache))}")
        elif not self.seen_cache:
            self.note("x-cache", True, "absent; the hit ratio is reported as unknown")
        else:
            self.note(
                "x-cache",
                False,
                f"sent on some reads, absent on {self.cache_absent}:"
                " send it on every read or on none",
            )


def fresh_after(read: Callable[[], Answer], version: int, acked: float) -> float | None:
    """Seconds from the ack until `read` serves `version` or newer; None past FRESH_WITHIN_S."""
    while True:
        body = read().body
        now = time.monotonic()
        if (
            isinstance(body, dict)
            and isinstance(body.get("version"), int)
            and body["version"] >= version
        ):
            return now - acked
        if now - acked > FRESH_WITHIN_S:
            return None
        time.sleep(0.01)


def freshness(seconds: float | None) -> str:
    if seconds is None:
        return f"still stale {FRESH_WITHIN_S:g} s after the ack"
    return f"fresh {seconds * 1000:.0f} ms after the ack"


def check_contract(targets: Sequence[str], catalogue: Catalogue) -> Findings:
    """Every rule in order, stopping at the first broken one; see the module docstring."""
    return Checker(targets, catalogue).run()


def parse_id_range(text: str) -> tuple[int, ...]:
    """`1001-1016` (or one id) as the ids it spans; ValueError with a readable message."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"FIRST-LAST, two ids, got {text!r}") from None
    if not 1 <= low <= high:
        raise ValueError(f"FIRST-LAST with 1 <= FIRST <= LAST, got {text!r}")
    if high - low >= 10_000:
        raise ValueError(f"at most 10000 ids, got {high - low + 1}")
    return tuple(range(low, high + 1))
