"""One request of the check and what its answer holds; never raises on a refusal."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

REQUEST_TIMEOUT_S = 5.0
PRODUCT_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "name": (str,),
    "price": (int, float),
    "category": (str,),
    "version": (int,),
}
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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
