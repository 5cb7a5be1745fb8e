"""The HTTP contract that the probe, the scenarios and outside checks rely on."""

import re
import time

import pytest

from services.strategies import STRATEGY_NAMES
from tests.conftest import replica


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
async def test_contract(strategy: str, redis_url: str, database_url: str) -> None:
    async with replica(strategy, redis_url, database_url, "r7") as client:
        response = await client.get("/products/3")
        assert response.status_code == 200
        assert set(response.json()) == {"id", "name", "price", "category", "version", "updated_at"}
        assert response.headers["x-replica"] == "r7"
        assert response.headers["x-cache"] == "miss"

        listed = await client.get("/categories/c2/products")
        assert listed.status_code == 200
        assert listed.json()["category"] == "c2"
        assert {item["category"] for item in listed.json()["items"]} == {"c2"}
        assert listed.headers["x-cache"] in ("miss", "redis", "local")

        written = await client.patch("/products/3", json={"name": "renamed"})
        assert written.status_code == 200
        assert written.json()["name"] == "renamed"
        assert written.headers["x-replica"] == "r7"

        health = await client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["origin"] == "ok" and health.json()["redis"] == "ok"
        metrics = (await client.get("/metrics")).text
        for name in (
            "cache_hits_total",
            "cache_misses_total",
            "invalidations_sent_total",
            "invalidations_received_total",
            "cache_errors_total",
        ):
            assert name in metrics


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/products/999999", None, 404),
        ("PATCH", "/products/999999", {"price": 1.0}, 404),
        ("GET", "/products/abc", None, 422),
        ("GET", "/products/0", None, 422),
        ("GET", "/products/99999999999999999999", None, 422),
        ("PATCH", "/products/abc", {"price": 1.0}, 422),
        ("PATCH", "/products/3", {}, 422),
        ("PATCH", "/products/3", {"price": "cheap"}, 422),
        ("PATCH", "/products/3", {"price": -1}, 422),
        ("PATCH", "/products/3", {"version": 9}, 422),
        ("PATCH", "/products/3", "not json", 422),
    ],
)
async def test_bad_input_is_a_4xx(
    method: str, path: str, body: object, status: int, redis_url: str, tmp_path
) -> None:
    from bench.runtime.seed import seed_async
    from tests.conftest import PLAN

    url = f"sqlite:///{tmp_path / 'o.db'}"
    await seed_async(url, PLAN)
    async with replica("delete", redis_url, url) as client:
        if isinstance(body, str):
            response = await client.request(method, path, content=body)
        else:
            response = await client.request(method, path, json=body)
        assert response.status_code == status, response.text
        after = (await client.get("/products/3")).json()
        assert after["version"] == 1, "bad input must not write"


async def test_error_answers_carry_the_replica_headers(redis_url: str, database_url: str) -> None:
    """Every response says which replica answered and that no cache did: errors too."""
    async with replica("delete", redis_url, database_url, "r9") as client:
        answers = [
            await client.get("/products/999999"),  # 404, raised in the fast Starlette route
            await client.get("/products/x"),  # 422 for a malformed id
            await client.patch("/products/999999", json={"price": 1}),  # 404 from FastAPI
            await client.patch("/products/3", json={"price": "free"}),  # 422 for a bad body
            await client.patch(
                "/products/3",
                content=b"{}" + b" " * 9000,
                headers={"content-type": "application/json"},
            ),  # 413: over the body cap
            await client.get("/no/such/route"),  # 404 before any route runs
        ]
        assert [a.status_code for a in answers] == [404, 422, 404, 422, 413, 404]
        for answer in answers:
            assert (answer.headers["x-replica"], answer.headers["x-cache"]) == ("r9", "miss")


SERVER_TIMING = re.compile(r"app;dur=(\d+\.\d{3})")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/products/3", None, 200),
        ("GET", "/categories/c2/products", None, 200),
        ("PATCH", "/products/3", {"price": 2.5}, 200),
        ("GET", "/products/999999", None, 404),
        ("GET", "/products/abc", None, 422),
        ("GET", "/healthz", None, 200),
        ("GET", "/metrics", None, 200),
    ],
)
async def test_every_answer_says_how_long_the_replica_took(
    method: str, path: str, body: dict | None, status: int, redis_url: str, database_url: str
) -> None:
    """`Server-Timing: app;dur=<ms>`, the replica's own time, within the client's."""
    async with replica("delete", redis_url, database_url, origin_delay_ms=20) as client:
        started = time.perf_counter()
        response = await client.request(method, path, json=body)
        client_ms = (time.perf_counter() - started) * 1000
        assert response.status_code == status
        timing = SERVER_TIMING.fullmatch(response.headers["server-timing"])
        assert timing is not None, response.headers["server-timing"]
        assert 0 < float(timing.group(1)) <= client_ms
        if path == "/products/3" and method == "GET":  # a miss waited on the slow origin
            assert float(timing.group(1)) >= 20


FAULT_PATHS = ["/_faults/origin-delay", "/_faults/subscriber-delay", "/_faults/nope"]


@pytest.mark.parametrize("path", FAULT_PATHS)
@pytest.mark.parametrize(
    ("method", "body"),
    [("PUT", {"ms": 5}), ("PUT", {"ms": "x"}), ("PUT", None), ("GET", None), ("POST", {})],
)
async def test_fault_controls_do_not_exist_without_fault_control(
    path: str, method: str, body: object, redis_url: str, tmp_path
) -> None:
    """Not a 405 or a 422 that shows the route is there: a 404 whatever the method or
    body, FAULT_CONTROL checked before anything else (it answered 422 and 405 before)."""
    async with replica("delete", redis_url, await seeded(tmp_path), "r2") as client:
        answer = await client.request(method, path, json=body)
        assert answer.status_code == 404, answer.text
        assert answer.headers["x-replica"] == "r2"
        assert client.app.state.origin._delay_s == 0.0  # type: ignore[attr-defined]


async def test_fault_controls_with_fault_control(redis_url: str, tmp_path) -> None:
    async with replica("pubsub", redis_url, await seeded(tmp_path), fault_control=True) as client:
        ok = await client.put("/_faults/subscriber-delay", json={"ms": 5})
        assert (ok.status_code, ok.json()) == (200, {"delay_ms": 5.0})
        assert (await client.put("/_faults/nope", json={"ms": 5})).status_code == 404
        other = await client.get("/_faults/origin-delay")
        assert (other.status_code, other.headers["allow"]) == (405, "PUT")
        bad = await client.put("/_faults/origin-delay", json={"ms": -1})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "ms"]
        assert (await client.put("/_faults/origin-delay", content=b"{")).status_code == 422
    async with replica("delete", redis_url, await seeded(tmp_path), fault_control=True) as client:
        refused = await client.put("/_faults/subscriber-delay", json={"ms": 5})
        assert refused.status_code == 409, "delete has no local tier to delay"


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PUT", "POST"])
async def test_a_405_lists_every_method_of_the_path(method: str, redis_url: str, tmp_path) -> None:
    """`/products/{id}` is a GET route and a PATCH route: a 405 says both (it said
    `Allow: HEAD, GET`, the first route's alone)."""
    async with replica("delete", redis_url, await seeded(tmp_path), "r3") as client:
        answer = await client.request(method, "/products/1")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, HEAD, PATCH"
        assert answer.headers["x-replica"] == "r3"
        assert (await client.head("/products/1")).status_code == 200
        listed = await client.request(method, "/categories/c1/products")
        assert (listed.status_code, listed.headers["allow"]) == (405, "GET")


@pytest.mark.parametrize(
    "raw", ["%20%201", "1%20", "%201", "+1", "1_0", "1.0", "%091", "%D9%A1", "0x1", "-1"]
)
@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_an_id_that_is_not_digits_is_a_422(
    raw: str, method: str, redis_url: str, tmp_path
) -> None:
    """Digits and nothing else: `/products/%20%201` was product 1, a 200."""
    async with replica("delete", redis_url, await seeded(tmp_path)) as client:
        answer = await client.request(method, f"/products/{raw}", json={"price": 2.0})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["path", "product_id"]
        assert (await client.get("/products/1")).json()["version"] == 1, "nothing written"
        assert (await client.get("/products/01")).status_code == 200, "digits are an id"


async def test_healthz_names_no_error_text(redis_url: str, tmp_path, caplog) -> None:
    """A fixed word per dependency; the exception's text goes to the log only."""
    from tests.conftest import RedisProcess

    server = RedisProcess(tmp_path)
    async with replica("delete", server.url, await seeded(tmp_path)) as client:
        assert (await client.get("/healthz")).json()["redis"] == "ok"
        server.stop()
        for _ in range(2):
            health = await client.get("/healthz")
            assert health.status_code == 200, "Redis down: degraded, still serving"
            assert (health.json()["redis"], health.json()["origin"]) == ("unreachable", "ok")
        said = [r.getMessage() for r in caplog.records if "healthz: redis" in r.getMessage()]
        assert len(said) == 1 and "unreachable (" in said[0], "the detail, logged once"
        await client.app.state.origin.close()  # type: ignore[attr-defined]
        gone = await client.get("/healthz")
        assert gone.status_code == 503
        assert gone.json()["origin"] == "unreachable"
        assert "error" not in gone.text.lower() and "exception" not in gone.text.lower()


async def seeded(tmp_path) -> str:
    """A fresh SQLite origin of its own (PLAN), for tests that need one only."""
    import uuid

    from bench.runtime.seed import seed_async
    from tests.conftest import PLAN

    url = f"sqlite:///{tmp_path / f'o-{uuid.uuid4().hex[:8]}.db'}"
    await seed_async(url, PLAN)
    return url
