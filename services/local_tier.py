"""The in-process tier of the pubsub strategy: a bounded LRU whose entries expire.

A fill races with invalidations: a read that fetched the old value from Redis
just before a write may store it after the write's invalidation message has
been handled, and that stale copy would then live for LOCAL_TTL. To close the
race, a reader takes a token before it fetches, and `put` refuses the value if
the key was invalidated after that token was taken.
"""

import time
from collections import OrderedDict


class LocalTier:
    def __init__(self, ttl_s: float, max_items: int) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._epoch = 0
        # key -> epoch of its last invalidation, bounded like the entries; a
        # forgotten tombstone makes older tokens count as invalidated.
        self._tombstones: OrderedDict[str, int] = OrderedDict()
        self._forgotten_epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    def token(self) -> int:
        return self._epoch

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: bytes, token: int) -> bool:
        """Store unless `key` was invalidated (or the tier cleared) after `token`."""
        if token < self._forgotten_epoch or token < self._tombstones.get(key, -1):
            return False
        self._entries[key] = (time.monotonic() + self.ttl_s, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_items:
            self._entries.popitem(last=False)
        return True

    def invalidate(self, *keys: str) -> None:
        self._epoch += 1
        for key in keys:
            self._entries.pop(key, None)
            self._tombstones[key] = self._epoch
            self._tombstones.move_to_end(key)
        while len(self._tombstones) > self.max_items:
            _, epoch = self._tombstones.popitem(last=False)
            self._forgotten_epoch = max(self._forgotten_epoch, epoch)

    def clear(self) -> None:
        """Forget everything, and refuse fills begun before: messages may have been missed."""
        self._epoch += 1
        self._entries.clear()
        self._tombstones.clear()
        self._forgotten_epoch = self._epoch
