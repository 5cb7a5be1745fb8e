"""A stand-in service for the tests whose system under test is the suite's own client side.

The contract check, the probe, the recorder and verify judge a service the suite did not
start, so their tests need a service that keeps every promise and then breaks one on
purpose: `Shop` is one catalogue behind two replicas (each a thread of its own) that keep
the contract unless told to break one rule (`BREAKS`, for the contract check) or to
misbehave as a hostile or broken service would (`HOSTILE`, switchable while a run is
going on, so a run's contract check passes first and its load then meets the fault).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from bench.contract import Catalogue

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
    "no-redirect": "the second replica answers GET with 302 and PATCH with 307 (the decoy)",
    "no-redirect/patch": "the second replica answers GET itself, PATCH with 307 (the decoy)",
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


# How a replica misbehaves, set per replica index in `Shop.hostile` while it serves.
HOSTILE: dict[str, str] = {
    "redirect": "GET answers 302 and PATCH 307 to the decoy's port (`Shop.decoy`)",
    "redirect-patch": "GET is answered, PATCH answers 307 to the decoy's port",
    "nested-version": 'a product body has "supplier": {"version": 1} before its own version',
    "truncate": "a 200 whose JSON body is cut in the middle",
    "hang": "the request is read and never answered (until the shop is closed)",
    "dribble": "headers, then one body byte every DRIBBLE_S seconds",
    "unavailable": "every request is answered 503, as the app does when its origin is out",
    "unavailable-once": "the next request is answered 503, the ones after it as usual",
    "write-unanswered-once": "the next PATCH is made, then its connection closed unanswered",
}
DRIBBLE_S = 3.0
HANG_LIMIT_S = 120.0  # a hung answer is given up at last, so no test thread outlives this


def product_row(product_id: int, category: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "name": f"product-{product_id}",
        "price": 1.5 + product_id,
        "category": category,
        "version": 1,
        "updated_at": "2026-01-01T00:00:00+00:00",
    }


class LoopbackServer(ThreadingHTTPServer):
    """A server of the stand-in on 127.0.0.1, each request in a thread of its own."""

    daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


S = TypeVar("S", bound=LoopbackServer)


@contextmanager
def served(server: S) -> Iterator[S]:
    """Serve `server` from a thread of its own until the block is left."""
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Decoy(LoopbackServer):
    """Where a redirect points: a server no test names a target, counting what reaches it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), DecoyHandler)
        self.requests: list[str] = []


class DecoyHandler(BaseHTTPRequestHandler):
    """Answers anything 200, so a client that followed a redirect would take it as served."""

    server: Decoy

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        body = b'{"id": 1, "version": 1}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PATCH = answer


@contextmanager
def decoy() -> Iterator[Decoy]:
    """A decoy served from a thread of its own until the block is left: set `Shop.decoy`
    to its url, and its `requests` list what a client that followed a redirect sent."""
    with served(Decoy()) as server:
        yield server


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
        self.hostile: dict[int, str] = {}  # replica index -> a HOSTILE mode
        if broken is not None and broken.startswith("no-redirect"):
            self.hostile[1] = "redirect-patch" if broken.endswith("/patch") else "redirect"
        self.decoy = ""  # where "redirect" sends a request: a URL no test names a target
        self.closed = threading.Event()  # set when the shop shuts down: hung answers end

    def misbehave(self, replica: int, mode: str | None) -> None:
        """Make `replica` misbehave as HOSTILE[mode] says from its next request (None: stop)."""
        assert mode is None or mode in HOSTILE, mode
        with self.lock:
            if mode is None:
                self.hostile.pop(replica, None)
            else:
                self.hostile[replica] = mode

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


class DoubleReplica(LoopbackServer):
    def __init__(self, shop: Shop, index: int, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), DoubleHandler)
        self.shop, self.index = shop, index
        self.name = "double" if shop.broken == "x-replica" else f"double-{index + 1}"


class DoubleHandler(BaseHTTPRequestHandler):
    """The contract's three operations, each answer bent where the shop's case says."""

    server: DoubleReplica

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a failing test prints the verdict, not an access log

    def answer(self, status: int, body: Any, hit: bool | None = None) -> None:
        mode = self.hostile()
        if mode == "nested-version" and isinstance(body, dict) and "version" in body:
            body = {"id": body.get("id"), "supplier": {"name": "acme", "version": 1}} | body
        raw = json.dumps(body).encode()
        if mode == "truncate" and status == 200:
            raw = raw[: len(raw) // 2]
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
        if mode == "dribble":
            for byte in raw:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if self.server.shop.closed.wait(DRIBBLE_S):
                    return
            return
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

    def hostile(self) -> str:
        return self.server.shop.hostile.get(self.server.index, "")

    def misbehaved(self, redirect_status: int) -> bool:
        """Answer as the replica's hostile mode says; False when it has none for this."""
        mode = self.hostile()
        if mode == "redirect" or (mode == "redirect-patch" and redirect_status == 307):
            self.send_response(redirect_status)
            self.send_header("Location", self.server.shop.decoy + self.path)
            self.send_header("Content-Length", "0")
            self.send_header("X-Replica", self.server.name)
            self.end_headers()
            return True
        if mode.startswith("unavailable"):
            if mode == "unavailable-once":
                self.server.shop.misbehave(self.server.index, None)
            self.answer(503, {"detail": "origin unreachable: retry later"})
            return True
        if mode == "hang":
            self.server.shop.closed.wait(HANG_LIMIT_S)
            self.close_connection = True
            return True
        return False

    def do_GET(self) -> None:
        shop = self.server.shop
        if self.misbehaved(302):
            return
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
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.misbehaved(307):
            return
        product_id = self.product_id()
        if product_id is None:
            return
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
        written = shop.write(self.server.index, product_id, change)
        if self.hostile() == "write-unanswered-once":
            shop.misbehave(self.server.index, None)
            self.close_connection = True  # the write is made; its answer is lost
            return
        self.answer(200, written)


@contextmanager
def replica(shop: Shop, index: int, port: int = 0) -> Iterator[DoubleReplica]:
    """Replica `index` of `shop`, served from a thread of its own on `port` (0: a free
    one) until the block is left: leaving it is the replica's death, and a new one on the
    same port its restart."""
    with served(DoubleReplica(shop, index, port)) as server:
        yield server


@contextmanager
def serving(shop: Shop, replicas: int = 2) -> Iterator[list[str]]:
    """Serve `shop` from `replicas` threads of their own; yield their base URLs, and shut
    every one down (hung and dribbling answers released first) on leaving."""
    with ExitStack() as stack:
        urls = [stack.enter_context(replica(shop, index)).url for index in range(replicas)]
        stack.callback(shop.closed.set)  # runs first on leaving: hung handlers return
        yield urls
