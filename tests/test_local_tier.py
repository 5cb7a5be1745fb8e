"""The local tier refuses fills that raced with an invalidation."""

from services.local_tier import LocalTier


def test_fill_after_invalidation_is_refused() -> None:
    tier = LocalTier(ttl_s=60, max_items=10)
    token = tier.token()  # a reader starts, fetches the old value ...
    tier.invalidate("k")  # ... a write's message arrives first ...
    assert not tier.put("k", b"old", token)  # ... so the old value is not kept
    assert tier.get("k") is None
    assert tier.put("k", b"new", tier.token())
    assert tier.get("k") == b"new"


def test_invalidating_another_key_does_not_refuse() -> None:
    tier = LocalTier(ttl_s=60, max_items=10)
    token = tier.token()
    tier.invalidate("other")
    assert tier.put("k", b"v", token)


def test_forgotten_tombstones_refuse_older_tokens() -> None:
    tier = LocalTier(ttl_s=60, max_items=2)
    token = tier.token()
    tier.invalidate("k")
    tier.invalidate("a")
    tier.invalidate("b")  # "k"'s tombstone falls off the bounded list
    assert not tier.put("k", b"old", token)


def test_clear_refuses_fills_begun_before() -> None:
    tier = LocalTier(ttl_s=60, max_items=10)
    token = tier.token()
    tier.clear()
    assert not tier.put("k", b"v", token)


def test_entries_expire_and_size_is_bounded() -> None:
    tier = LocalTier(ttl_s=0.0001, max_items=2)
    tier.put("k", b"v", tier.token())
    expired = tier.get("k")  # monotonic time has moved past 0.1 ms by the time this runs
    bounded = LocalTier(ttl_s=60, max_items=2)
    for key in "abc":
        bounded.put(key, b"v", bounded.token())
    assert len(bounded) == 2 and bounded.get("a") is None
    assert expired in (None, b"v")
