"""/openapi.json publishes every operation the contract has, with the answers each can give."""

import json
from pathlib import Path
from typing import Any

from tests.conftest import replica


async def published(redis_url: str, database_url: str) -> dict[str, Any]:
    async with replica("delete", redis_url, database_url) as client:
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        return response.json()


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def json_schema_of(schema: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return resolve(schema, response["content"]["application/json"]["schema"])


async def test_fast_product_read_is_published(redis_url: str, database_url: str) -> None:
    schema = await published(redis_url, database_url)
    operation = schema["paths"]["/products/{product_id}"]["get"]
    assert set(operation["responses"]) == {"200", "404", "422", "503"}
    product = json_schema_of(schema, operation["responses"]["200"])
    assert set(product["required"]) == {"id", "name", "price", "category", "version", "updated_at"}
    (parameter,) = operation["parameters"]
    assert parameter["in"] == "path" and parameter["schema"]["type"] == "integer"
    assert parameter["schema"]["minimum"] == 1 and parameter["schema"]["maximum"] == 2**31 - 1


async def test_write_publishes_its_answers_and_a_strict_body(
    redis_url: str, database_url: str
) -> None:
    schema = await published(redis_url, database_url)
    operation = schema["paths"]["/products/{product_id}"]["patch"]
    assert set(operation["responses"]) == {"200", "404", "413", "422", "503"}
    assert json_schema_of(schema, operation["responses"]["200"])["title"] == "Product"
    body = operation["requestBody"]
    assert body["required"] is True
    changes = json_schema_of(schema, body)
    assert changes["minProperties"] == 1, "{} is refused, so the schema must refuse it too"
    assert changes["additionalProperties"] is False
    assert changes["properties"]["price"]["type"] == "number"
    assert changes["properties"]["name"]["type"] == "string"


async def test_list_and_ops_routes_are_described(redis_url: str, database_url: str) -> None:
    schema = await published(redis_url, database_url)
    listing = schema["paths"]["/categories/{category}/products"]["get"]
    assert set(listing["responses"]) == {"200", "422", "503"}
    items = json_schema_of(schema, listing["responses"]["200"])["properties"]["items"]
    assert resolve(schema, items["items"])["title"] == "Product"
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"], "/metrics answers Prometheus text, not JSON"
    assert {"200", "503"} <= set(schema["paths"]["/healthz"]["get"]["responses"])


def test_the_published_contract_is_the_apps_own() -> None:
    """docs/openapi.json is generated from this app (`make openapi`); when a route or a
    model changes, this fails until the file is regenerated, so the two cannot drift."""
    from services.app import create_app
    from services.contract import contract_schema

    published = json.loads((Path(__file__).parents[1] / "docs" / "openapi.json").read_text())
    assert published == json.loads(json.dumps(contract_schema(create_app())))
    assert set(published["paths"]) == {"/products/{product_id}", "/categories/{category}/products"}
