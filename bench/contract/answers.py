"""One request of the check and what its answer holds; never raises on a refusal.

A request is bounded in total time (`REQUEST_TIMEOUT_S`, and what is left of the check's
deadline), follows no redirect (a 3xx is an answer, with its Location), and its body is
read as `scenarios.bodies` reads every answer: JSON or nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.bounded_http import NoAnswer, Reply, request
from scenarios.bodies import parse, version_in

REQUEST_TIMEOUT_S = 5.0  # one request, start to last byte
PRODUCT_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "name": (str,),
    "price": (int, float),
    "category": (str,),
    "version": (int,),
}


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer at all
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    error: str = ""
    reply: Reply | None = None  # as it came, for what a message quotes

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    @property
    def redirect(self) -> bool:
        return self.reply is not None and self.reply.redirect

    def unreadable(self) -> str:
        """Why the body has no JSON to read, or "" when it has (or no answer came)."""
        if self.reply is None or self.body is not None:
            return ""
        if not self.reply.body:
            return "the body is empty"
        return f"the body does not parse as JSON (cut short?) ({self.reply.preview()})"


def call(method: str, url: str, body: Any = None, deadline: float | None = None) -> Answer:
    """One request, never raising: a refusal is an Answer with its status, no answer is 0."""
    try:
        reply = request(method, url, body, timeout_s=REQUEST_TIMEOUT_S, deadline=deadline)
    except (NoAnswer, ValueError) as exc:  # refused, reset, timed out, a malformed URL
        return Answer(0, {}, None, str(exc))
    return Answer(reply.status, reply.headers, parse(reply.body), reply=reply)


def field_of(body: Any, name: str) -> Any:
    """A field of a JSON body, None when the body is no object (a list, a string, nothing)."""
    return body.get(name) if isinstance(body, dict) else None


def product_problem(body: Any, product_id: int) -> str:
    """What is wrong with a product body, or "" when it has the contract's fields."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    for name, types in PRODUCT_FIELDS.items():
        value = body.get(name)
        if name == "version":  # read as the recorder, the probe and verify read it
            wrong = version_in(body) is None
        else:
            wrong = isinstance(value, bool) or not isinstance(value, types)
        if wrong:
            kind = " or ".join(t.__name__ for t in types)
            return f"field {name!r} is {json.dumps(value)}, not {kind}"
    if body["id"] != product_id:
        return f"asked for product {product_id}, got id {body['id']}"
    return ""
