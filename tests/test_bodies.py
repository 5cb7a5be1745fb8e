"""The one reading of an answer: only top-level fields count, and a body that does not
parse, or lacks one, has no version (a failed read), never a fresh or a stale one."""

import json

import pytest

from scenarios.bodies import list_items, product_version

PRODUCT = {"id": 7, "name": "p", "price": 1.5, "category": "c1", "version": 4}


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_product_s_version_is_its_top_level_field() -> None:
    assert product_version(body(PRODUCT)) == 4
    nested_first = {"id": 7, "supplier": {"name": "acme", "version": 1}, "version": 4}
    assert product_version(body(nested_first)) == 4


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        None,
        body(PRODUCT)[:20],  # truncated
        b"\xff\xfe",  # not UTF-8
        body([PRODUCT]),  # not an object
        body({"id": 7, "supplier": {"version": 1}}),  # only a nested version
        body(PRODUCT | {"version": "4"}),
        body(PRODUCT | {"version": True}),
        body(PRODUCT | {"version": 4.0}),
    ],
)
def test_a_body_without_a_top_level_integer_version_has_none(raw: bytes | None) -> None:
    assert product_version(raw) is None


def test_a_list_s_items_are_its_top_level_items_each_with_its_own_version() -> None:
    listing = {"category": "c1", "items": [PRODUCT, PRODUCT | {"id": 8, "version": 2}]}
    assert list_items(body(listing)) == ((7, 4), (8, 2))
    assert list_items(body({"category": "c1", "items": []})) == ()


@pytest.mark.parametrize(
    "document",
    [
        {"category": "c1"},
        {"items": {"7": PRODUCT}},
        {"items": [PRODUCT, {"id": 8, "detail": {"version": 2}}]},
        {"items": [PRODUCT, 8]},
        [PRODUCT],
    ],
)
def test_a_list_with_any_malformed_item_has_no_items(document: object) -> None:
    assert list_items(body(document)) is None
    assert list_items(body(PRODUCT | {"items": []})[:-3]) is None
