"""The contract's rules, checked in order against live targets (see `bench.contract`).

The whole check has a deadline: every request gets at most what is left of it, and when
it runs out the verdict says which rule was being checked. No request is redirected: a
3xx anywhere is the breach `no-redirect`, naming where it pointed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.contract.answers import PRODUCT_FIELDS, Answer, call, field_of, product_problem
from bench.contract.findings import Catalogue, Check, Findings, Target
from bench.targets import CONTRACT_DEADLINE_S
from scenarios.bodies import items_in, version_in

FRESH_WITHIN_S = 2.0
ABSENT_ID = 2**31 - 1  # the largest 32-bit id: a catalogue the suite measures never holds it
CACHE_VALUES = ("local", "redis", "stale", "hit", "miss")  # X-Cache, any case


class Broken(Exception):
    """A rule is broken and the checks after it would only repeat it."""


class OutOfTime(Exception):
    """The check's deadline passed; `Checker.rule` is the rule it was checking."""


class Checker:
    """The contract's rules in order; each appends one line, the first broken one stops."""

    def __init__(
        self, targets: Sequence[str], catalogue: Catalogue, deadline_s: float = CONTRACT_DEADLINE_S
    ) -> None:
        self.targets = [t.rstrip("/") for t in targets]
        self.catalogue = catalogue
        self.findings = Findings()
        self.seen_cache: set[str] = set()
        self.cache_absent = 0
        self.deadline_s = deadline_s
        self.deadline = time.monotonic() + deadline_s
        self.rule = "reachable"  # the rule being checked, which a deadline names

    def note(self, rule: str, ok: bool, detail: str, *, finding: bool = False) -> None:
        self.findings.checks.append(Check(rule, ok, detail, finding))
        if not ok and not finding:
            raise Broken(rule)

    def call(self, method: str, target: str, path: str, body: Any = None) -> Answer:
        """One request within what is left of the deadline; a 3xx is a breach at once."""
        if time.monotonic() >= self.deadline:
            raise OutOfTime
        answer = call(method, target + path, body, deadline=self.deadline)
        if answer.status == 0 and time.monotonic() >= self.deadline:
            raise OutOfTime
        if answer.redirect:
            self.rule = "no-redirect"
            self.note(
                "no-redirect",
                False,
                f"{method} {target}{path}: {answer.reply.redirected() if answer.reply else ''};"
                " the suite follows no redirect, each target must answer itself",
            )
        return answer

    def get(self, target: str, path: str) -> Answer:
        answer = self.call("GET", target, path)
        self.saw(answer)
        return answer

    def read(self, target: str, path: str) -> Answer:
        """A GET whose body the rule reads: a 200 without JSON breaks the rule at once."""
        answer = self.get(target, path)
        if answer.status == 200 and answer.unreadable():
            self.note(self.rule, False, f"GET {path}: HTTP 200, but {answer.unreadable()}")
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
        steps: list[tuple[str, Callable[[], None]]] = [  # each step's first rule
            ("reachable", self.reachable),
            ("no-redirect", self.no_redirect),
            ("product", self.products),
            ("catalogue", self.catalogue_layout),
            ("list", self.lists),
            ("http-404", self.refusals),
            ("x-replica", self.replica_names),
            ("replicas-agree", self.agreement),
            ("write", self.write),
            ("http-422", self.bad_writes),
            ("x-cache", self.cache_header),
        ]
        try:
            for self.rule, step in steps:
                step()
        except Broken:
            pass
        except OutOfTime:
            self.findings.checks.append(
                Check("deadline", False, f"{self.deadline_s:g} s ran out in rule {self.rule}")
            )
        if not self.findings.replicas:
            self.findings.replicas = [Target(url, url) for url in self.targets]
        return self.findings

    def reachable(self) -> None:
        for target in self.targets:
            answer = self.get(target, "/products/1")
            said = f"HTTP {answer.status}" if answer.status else f"no answer ({answer.error})"
            self.note("reachable", answer.status != 0, f"{target}: {said}")

    def no_redirect(self) -> None:
        """Every target answers a read and a write itself: a 3xx would send the load, the
        probe and their writes to a host nobody named a target. The write is a refusal
        (an id no catalogue holds), so the check's own write is still the first."""
        for target in self.targets:
            self.get(target, "/products/1")
            self.call("PATCH", target, f"/products/{ABSENT_ID}", {"name": "x"})
        self.note("no-redirect", True, "no target redirects a GET or a PATCH")

    def products(self) -> None:
        """Every catalogue edge and probe id is a product with the contract's fields."""
        ids = list(dict.fromkeys([1, self.catalogue.products, *self.catalogue.probe_ids]))
        for product_id in ids:
            answer = self.read(self.targets[0], f"/products/{product_id}")
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
            got = field_of(self.read(self.targets[0], f"/products/{product_id}").body, "category")
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
        self.rule = "probe-ids"
        load = {f"c{c}" for c in range(self.catalogue.categories)}
        for product_id in self.catalogue.probe_ids:
            got = field_of(self.read(self.targets[0], f"/products/{product_id}").body, "category")
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
        answer = self.read(self.targets[0], "/categories/c0/products")
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
        if items_in(answer.body) is None:  # as the recorder reads a list: never, here
            self.note("list", False, "an item of c0 lacks a top-level integer id or version")
        self.note(
            "list",
            True,
            f"GET /categories/c0/products: {len(items)} products, each with its version",
        )

    def refusals(self) -> None:
        for path, want in [(f"/products/{ABSENT_ID}", 404), ("/products/abc", 422)]:
            self.rule = f"http-{want}"
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
        self.findings.replicas = [Target(n, t) for n, t in zip(named, self.targets, strict=True)]

    def agreement(self) -> None:
        """Before the write every target reads the product: each cache holds its old value."""
        product_id = self.catalogue.probe_ids[-1]
        answers = [self.get(t, f"/products/{product_id}") for t in self.targets]
        before = [version_in(a.body) for a in answers]
        said = [str(v) if v is not None else f"none ({unversioned(a)})"
                for v, a in zip(before, answers, strict=True)]  # fmt: skip
        self.note(
            "replicas-agree",
            before[0] is not None and all(v == before[0] for v in before),
            f"product {product_id} at versions {', '.join(said)} before a write",
        )
        self.before = before[0]

    def write(self) -> None:
        """The suite's first write, made the guide's freshness experiment."""
        product_id, first = self.catalogue.probe_ids[-1], self.targets[0]
        path = f"/products/{product_id}"
        answer = self.call("PATCH", first, path, {"name": f"contract check {time.time_ns()}"})
        acked = time.monotonic()
        written = version_in(answer.body)
        self.note(
            "write",
            answer.status == 200 and written is not None and written == self.before + 1,
            f"PATCH {path}: HTTP {answer.status}, version {self.before} ->"
            f" {written if written is not None else f'none ({unversioned(answer)})'}"
            ", the contract says + 1",
        )
        self.rule = "fresh-next-read"
        served = version_in(self.get(first, path).body)
        self.note(
            "fresh-next-read",
            served == written,
            f"the next read on {first} served version {served}"
            f" after the write acknowledged {written}",
            finding=True,
        )
        self.rule = "fresh-everywhere"
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
            self.rule = f"http-{want}"
            answer = self.call("PATCH", self.targets[0], path, body)
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
        served = version_in(read().body)
        now = time.monotonic()
        if served is not None and served >= version:
            return now - acked
        if now - acked > FRESH_WITHIN_S:
            return None
        time.sleep(0.01)


def freshness(seconds: float | None) -> str:
    if seconds is None:
        return f"still stale {FRESH_WITHIN_S:g} s after the ack"
    return f"fresh {seconds * 1000:.0f} ms after the ack"


def unversioned(answer: Answer) -> str:
    """Why an answer states no version, in a few words."""
    if answer.status == 0:
        return f"no answer: {answer.error}"
    return f"HTTP {answer.status}, {answer.unreadable() or 'no top-level integer version'}"


def check_contract(
    targets: Sequence[str], catalogue: Catalogue, deadline_s: float = CONTRACT_DEADLINE_S
) -> Findings:
    """Every rule in order, stopping at the first broken one or when `deadline_s` pass;
    see the module docstring."""
    return Checker(targets, catalogue, deadline_s).run()
