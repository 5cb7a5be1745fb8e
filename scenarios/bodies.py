"""The one reading of a service's answer: a product's version, a list's items.

The recorder, the probe, verify and the contract check all judge freshness by these
numbers, so they read them here and nowhere else. The contract (docs/contract.md) puts
`version` at the top level of a product body and a list's products in its top-level
`items`, each with its own top-level `id` and `version`. Only those count: a nested
object with a `version` of its own (a supplier, a price history) says nothing about the
product, and a scan for the first `"version": N` anywhere in the body took such a field
for the product's and counted 39 % of a consistent service's reads stale.

A body that does not parse, or lacks a field, has no version: None, which every caller
treats as a failed read, never as a fresh or a stale one.

Free of Locust and of the harness, so every side imports it. Parsing costs about 2 us
for a product body and about 80 us for a 100-product list; the recorder memoises lists
(a cached list repeats byte for byte), so a full parse is affordable on the hot path.
"""

from __future__ import annotations

import json
from typing import Any

ListItems = tuple[tuple[int, int], ...]  # (id, version) per item, in the body's order


def is_count(value: Any) -> bool:
    """An integer that JSON sent as one: `true` is no version, nor is `1.0` or `"1"`."""
    return type(value) is int


def parse(body: bytes | str | None) -> Any:
    """The body's JSON document, or None when it is empty or does not parse."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:  # truncated, not JSON, not UTF-8 (UnicodeDecodeError is one)
        return None


def version_in(document: Any) -> int | None:
    """The top-level `version` of a parsed product, None when there is none."""
    if not isinstance(document, dict):
        return None
    version = document.get("version")
    return version if is_count(version) else None


def items_in(document: Any) -> ListItems | None:
    """The (id, version) of each top-level item of a parsed list; None when the document
    is no object with a list of `items`, or any item lacks an integer id or version."""
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return None
    found = []
    for item in items:
        if not isinstance(item, dict):
            return None
        product_id, version = item.get("id"), item.get("version")
        if not (is_count(product_id) and is_count(version)):
            return None
        found.append((product_id, version))
    return tuple(found)


def product_version(body: bytes | str | None) -> int | None:
    """The version a product body states; None: unparseable or without one."""
    return version_in(parse(body))


def list_items(body: bytes | str | None) -> ListItems | None:
    """The (id, version) items a list body states; None: unparseable or malformed."""
    return items_in(parse(body))
