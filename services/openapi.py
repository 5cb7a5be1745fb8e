"""The published schema: every operation of the contract, with every answer it can give.

Two routes are not described by FastAPI on its own: `GET /products/{id}` is a plain
Starlette route (for speed, see `services.app.get_product`), and the write reads its
body itself (see `services.inputs`). Both are documented here from the same
annotations the code validates with, so the schema cannot drift from the checks.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from starlette.routing import BaseRoute

from services.inputs import ProductChanges, ProductId

REF = "#/components/schemas/{model}"


class Product(BaseModel):
    id: int
    name: str
    price: float
    category: str
    version: int
    updated_at: str


class ProductList(BaseModel):
    category: str
    items: list[Product]


class HTTPError(BaseModel):
    detail: str


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": HTTPError}}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": HTTPError, "description": "The origin did not answer; retry later"}
}
CHANGES_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="ProductChanges")}}},
    }
}


async def get_product(product_id: ProductId) -> Product:
    """Stands in for the fast route in the schema; never mounted, never called."""
    raise NotImplementedError


def _described(route: BaseRoute) -> BaseRoute:
    """The route as FastAPI can describe it: the fast product read gets a described twin
    (and the path's catch-all for other methods, unpublished, none)."""
    if (
        isinstance(route, APIRoute)
        or getattr(route, "path", None) != "/products/{product_id}"
        or not getattr(route, "include_in_schema", True)
    ):
        return route
    return APIRoute(
        "/products/{product_id}",
        get_product,
        methods=["GET"],
        response_model=Product,
        responses={**NOT_FOUND, **UNAVAILABLE},
        summary="Get Product",
    )


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and so /openapi.json) publish the routes FastAPI cannot see."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                routes=[_described(route) for route in app.routes],
            )
            changes = TypeAdapter(ProductChanges).json_schema(ref_template=REF)
            schema.setdefault("components", {}).setdefault("schemas", {})["ProductChanges"] = (
                changes
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


CONTRACT_VERSION = 1  # docs/contract.md; raised when a service would have to change
