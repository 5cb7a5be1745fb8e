"""Bad input never gets a 500, never writes, and is never echoed back unbounded.

Raw bytes on purpose: `httpx`'s `json=` cannot send NaN, 1e309 or a lone surrogate the
way a hostile or buggy client can.
"""

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from services.inputs import MAX_BODY_BYTES
from tests.conftest import replica

JSON_TYPE = {"content-type": "application/json"}


async def origin_version(client: httpx.AsyncClient, product_id: int) -> int:
    """The version in the origin itself: a cached copy could hide a write."""
    row = await client.app.state.origin.get_product(product_id)  # type: ignore[attr-defined]
    return int(row["version"])


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"price": NaN}', JSON_TYPE),
        (b'{"price": Infinity}', JSON_TYPE),
        (b'{"price": -Infinity}', JSON_TYPE),
        (b'{"price": 1e309}', JSON_TYPE),
        (b'{"price": 1' + b"0" * 400 + b"}", JSON_TYPE),
        (b'{"name": "\\ud800"}', JSON_TYPE),
        (b'{"name": "x\\udc00"}', JSON_TYPE),
        # PostgreSQL cannot store NUL in text: it was a 500 there, a silent write on SQLite.
        (b'{"name": "a\\u0000b"}', JSON_TYPE),
        # Not UTF-8 at all: FastAPI answered 400 "error parsing the body".
        (b'{"name": "\xff"}', JSON_TYPE),
        # Not JSON by its content type, and not text either: a 500 in the 422 handler.
        (b"\xff\xfe", {"content-type": "text/plain"}),
        (b'{"price": 2}', {"content-type": "text/plain"}),
    ],
    ids=[
        "nan",
        "inf",
        "-inf",
        "1e309",
        "huge-int",
        "lone-high-surrogate",
        "lone-low-surrogate",
        "nul",
        "not-utf8",
        "not-utf8-text",
        "text-plain",
    ],
)
async def test_unrepresentable_body_is_a_422(
    body: bytes, headers: dict[str, str], redis_url: str, database_url: str
) -> None:
    async with replica("delete", redis_url, database_url) as client:
        before = await origin_version(client, 3)
        response = await client.patch("/products/3", content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["detail"], "a 422 says what was wrong"
        assert await origin_version(client, 3) == before, "bad input must not write"


@pytest.mark.parametrize(
    "body",
    [
        {"price": False},
        {"price": True},
        {"price": "12.5"},
        {"price": [1]},
        {"name": 5},
        {"name": None},
        {"name": None, "price": 3.0},
        {},
    ],
    ids=["false", "true", "string", "array", "int-name", "null", "null-and-price", "empty"],
)
async def test_body_is_strict(body: object, redis_url: str, database_url: str) -> None:
    async with replica("delete", redis_url, database_url) as client:
        response = await client.patch("/products/3", json=body)
        assert response.status_code == 422, response.text
        assert await origin_version(client, 3) == 1


async def test_integer_price_is_a_number(redis_url: str, database_url: str) -> None:
    """JSON has one number type: 12 and 12.0 are the same price."""
    async with replica("delete", redis_url, database_url) as client:
        response = await client.patch("/products/3", json={"price": 12})
        assert response.status_code == 200, response.text
        assert response.json()["price"] == 12.0
        assert response.json()["version"] == 2


async def test_declared_length_over_the_cap_is_refused_unread(
    redis_url: str, database_url: str
) -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(100):
            pulled += 1
            yield b" " * 1024 * 1024

    async with replica("delete", redis_url, database_url) as client:
        headers = {**JSON_TYPE, "content-length": str(100 * 1024 * 1024)}
        response = await client.patch("/products/3", content=body(), headers=headers)
        assert response.status_code == 413, response.text
        assert len(response.content) < 200
        assert pulled == 0, "the body must not be read when its declared length is too long"
        assert await origin_version(client, 3) == 1


async def test_streamed_body_over_the_cap_stops_at_the_cap(
    redis_url: str, database_url: str
) -> None:
    """No Content-Length (chunked): the chunks are counted, and reading stops past the cap."""
    chunk = 1024
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"name": "'
        for _ in range(100 * 1024):  # 100 MiB if it were all read
            pulled += 1
            yield b"n" * chunk

    async with replica("delete", redis_url, database_url) as client:
        response = await client.patch("/products/3", content=body(), headers=JSON_TYPE)
        assert response.status_code == 413, response.text
        assert len(response.content) < 200
        assert pulled <= MAX_BODY_BYTES // chunk + 1
        assert await origin_version(client, 3) == 1


async def test_body_at_the_cap_is_read(redis_url: str, database_url: str) -> None:
    body = b'{"price": 4.5}'
    body += b" " * (MAX_BODY_BYTES - len(body))
    async with replica("delete", redis_url, database_url) as client:
        response = await client.patch("/products/3", content=body, headers=JSON_TYPE)
        assert response.status_code == 200, response.text
        assert response.json()["price"] == 4.5


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/products/3", json.dumps({"name": "n" * 8000}).encode()),
        ("PATCH", "/products/3", json.dumps({"k" * 7000: 1}).encode()),
        ("PATCH", "/products/3", json.dumps({f"k{i}": 1 for i in range(700)}).encode()),
        ("PATCH", "/products/3", b"[" + b"1," * 4000 + b"]"),
        ("GET", "/products/" + "9" * 8000, None),
        ("GET", "/categories/" + "c" * 8000 + "/products", None),
    ],
    ids=["long-name", "long-key", "many-keys", "long-array", "long-id", "long-category"],
)
async def test_errors_do_not_echo_the_input(
    method: str, path: str, body: bytes | None, redis_url: str, database_url: str
) -> None:
    async with replica("delete", redis_url, database_url) as client:
        response = await client.request(method, path, content=body, headers=JSON_TYPE)
        assert response.status_code == 422, response.text[:300]
        assert len(response.content) <= 2048, f"{len(response.content)} bytes echoed"
        for error in response.json()["detail"]:
            assert set(error) == {"type", "loc", "msg"}


async def test_nul_in_a_category_is_a_422(redis_url: str, database_url: str) -> None:
    """PostgreSQL cannot hold NUL in text: the list read was a 500 there."""
    async with replica("delete", redis_url, database_url) as client:
        response = await client.get("/categories/c%002/products")
        assert response.status_code == 422, response.text
