"""What a request may carry, and how bad input is refused: 413 or 422, never a 500.

The write's body is read here, not by FastAPI, for three reasons found by hardening:
FastAPI reads a body whole, however large; its `json.loads` takes NaN, Infinity and
lone surrogates (the first two then broke the 422 handler, the last the write: 500s);
and a body that was not UTF-8 got a 400. Here the body is capped, then parsed and
validated in one pass by pydantic's strict JSON parser, which refuses all of those.
"""

import json
from typing import Annotated, Any

from fastapi import HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

MAX_PRODUCT_ID = 2**31 - 1


def _digits_only(value: Any) -> Any:
    """An id in a path is ASCII digits and nothing else. Pydantic's lax int takes
    " 1", "+1", "1_000" and "1.0" as numbers: each was a 200 for product 1."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    return value


ProductId = Annotated[int, Path(ge=1, le=MAX_PRODUCT_ID), BeforeValidator(_digits_only)]

# PostgreSQL cannot store NUL in text: without this a NUL in a name or a category was a
# 500 there and a silent write on SQLite.
NO_NUL = r"^[^\x00]*$"


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL")
    return text


# A validator, not `pattern=NO_NUL`: a published pattern on a path parameter leaves a
# fuzzer almost nothing invalid to send (a URL path cannot carry the NUL it would need).
Category = Annotated[
    str,
    Path(min_length=1, max_length=100, description="Any text but NUL."),
    AfterValidator(_no_nul),
]

# The largest valid body is a 200-character name and a price: about 2.5 KiB even with
# every character escaped as a surrogate pair (12 bytes); 8 KiB leaves room for spacing.
MAX_BODY_BYTES = 8 * 1024

# A 422 lists at most this many errors, each with a `loc` of short parts, so its size is
# bounded whatever the input (a body of 900 unknown keys gives 900 errors).
MAX_ERRORS = 10
MAX_LOC_CHARS = 40


@with_config(
    ConfigDict(
        extra="forbid",
        # Strict: `false` and `"12.5"` are not prices. A JSON integer is still a number
        # (JSON has one number type), so {"price": 12} sets 12.0.
        strict=True,
        json_schema_extra={"minProperties": 1},
    )
)
class ProductChanges(TypedDict, total=False):
    """The fields a write changes: at least one; absent means unchanged, null is refused."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _something_to_change(changes: ProductChanges) -> ProductChanges:
    if not changes:
        raise ValueError("give name, price or both")
    return changes


_changes = TypeAdapter(Annotated[ProductChanges, AfterValidator(_something_to_change)])
_product_id = TypeAdapter(ProductId)


def parse_product_id(text: str) -> int:
    """Validate a path id as FastAPI would, raising the error FastAPI turns into a 422."""
    if text.isascii() and text.isdigit() and len(text) <= 10:  # the common case, cheaply
        value = int(text)
        if 1 <= value <= MAX_PRODUCT_ID:
            return value
    try:
        return _product_id.validate_python(text, strict=False)
    except ValidationError as exc:
        errors = [{**error, "loc": ("path", "product_id")} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def too_large() -> HTTPException:
    return HTTPException(413, f"request body over {MAX_BODY_BYTES} bytes")


async def read_body(request: Request) -> bytes:
    """The body, refused with a 413 past MAX_BODY_BYTES without reading on.

    Content-Length is checked first, so an honest large body is refused unread; the
    chunks are counted too, since a chunked body declares no length (and a declared
    one is only a claim until counted).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def is_json(content_type: str | None) -> bool:
    """As FastAPI decides: no content type, application/json or any application/*+json."""
    if content_type is None:
        return True
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_changes(request: Request) -> ProductChanges:
    """The write's body, capped, parsed and validated, or a 413 or 422."""
    body = await read_body(request)
    if not is_json(request.headers.get("content-type")):
        raise RequestValidationError(
            [{"type": "content_type", "loc": ("body",), "msg": "send the body as application/json"}]
        )
    try:
        return _changes.validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


def _loc_part(part: object) -> str | int:
    if isinstance(part, int):
        return part
    return str(part)[:MAX_LOC_CHARS]


async def validation_error(request: Request, exc: Exception) -> Response:
    """A 422 in FastAPI's shape (`{"detail": [{"type", "loc", "msg"}]}`), never echoing input.

    FastAPI's own handler returns each error's `input` and `ctx`: a NaN or a lone
    surrogate there cannot be serialised (a 500), and a 100 MB body came back whole.
    Only type, loc and msg are kept, bounded in count and length, and the JSON is
    ASCII so that a surrogate from a key of the body still encodes.
    """
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "type": str(error.get("type", "value_error")),
            "loc": [_loc_part(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", ""))[:200],
        }
        for error in exc.errors()[:MAX_ERRORS]
    ]
    body = json.dumps({"detail": detail}, separators=(",", ":"))
    return Response(body, 422, media_type="application/json")
