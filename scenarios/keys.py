"""Seeded key choosers over product ids 1..N, after YCSB's request distributions.

Pure Python and free of Locust, so they can be unit-tested and reused anywhere. Every
chooser draws from a `random.Random` it is given, so a run repeats from its seed; none of
them touches the global `random` module, which Locust itself uses.

Distributions (YCSB names and defaults):
- `zipfian`: ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic
  databases", SIGMOD 1994) with theta 0.99, scrambled so the hot ids are spread over the
  range instead of being 1, 2, 3...
- `uniform`: every id equally likely.
- `hotspot`: HotspotIntegerGenerator, 20% of the ids (the low ones) get 80% of the draws.
- `latest`: SkewedLatestGenerator, zipfian over recency: the most recently written id is
  the most likely, then the one before it, and so on.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from collections.abc import Callable
from typing import Protocol

ZIPFIAN_THETA = 0.99
HOTSPOT_SET_FRACTION = 0.2
HOTSPOT_OP_FRACTION = 0.8

_FNV_OFFSET_BASIS_64 = 0xCBF29CE484222325
_FNV_PRIME_64 = 0x100000001B3
_MASK_64 = (1 << 64) - 1


class KeyChooser(Protocol):
    """Draws product ids in 1..n; told about writes so recency-based choosers can follow."""

    n: int

    def next_key(self) -> int:
        """Return the next product id, in 1..n."""
        ...

    def record_write(self, key: int) -> None:
        """Note that `key` was just written (a no-op except for `latest`)."""
        ...


def fnv1a_64(value: int) -> int:
    """YCSB's `Utils.fnvhash64`: FNV-1a over the 8 little-endian bytes of `value`."""
    hashval = _FNV_OFFSET_BASIS_64
    for _ in range(8):
        hashval ^= value & 0xFF
        value >>= 8
        hashval = (hashval * _FNV_PRIME_64) & _MASK_64
    return hashval


@functools.lru_cache(maxsize=16)
def zeta(n: int, theta: float) -> float:
    """Sum of 1 / i**theta for i in 1..n. O(n), so cached: every user of a process shares it."""
    return math.fsum(i**-theta for i in range(1, n + 1))


@functools.lru_cache(maxsize=16)
def scrambled_order(n: int) -> tuple[int, ...]:
    """Ids 1..n ordered by their FNV-1a hash: rank r of a zipfian maps to id order[r].

    YCSB's ScrambledZipfianGenerator hashes a rank drawn over 10**10 items modulo n. That
    flattens the skew for small n (zeta(10**10) ~ 26 instead of ~7.5 for n = 1000) and
    the modulo collides, so about 1/e of the ids are never drawn. A hash-sorted
    permutation keeps the hash's scattering but is a bijection, so theta 0.99 is the real
    skew over exactly n ids. The order depends on n only, never on a seed: every user and
    every Locust process must agree on which ids are hot.
    """
    return tuple(sorted(range(1, n + 1), key=lambda key: (fnv1a_64(key), key)))


class ZipfianRanks:
    """YCSB's ZipfianGenerator: ranks 0..n-1, rank 0 the most popular, in O(1) per draw."""

    def __init__(self, n: int, rng: random.Random, theta: float = ZIPFIAN_THETA) -> None:
        if n < 1:
            raise ValueError(f"need at least one item, got n={n}")
        if not 0.0 < theta < 1.0:
            raise ValueError(f"theta must be in (0, 1), got {theta}")
        self.n = n
        self.rng = rng
        self.theta = theta
        self.zetan = zeta(n, theta)
        self.alpha = 1.0 / (1.0 - theta)
        # Gray's eta; the two most popular ranks are special-cased as in YCSB, so with
        # n <= 2 eta is never used (and its formula would divide by zero).
        self.eta = (
            (1.0 - (2.0 / n) ** (1.0 - theta)) / (1.0 - zeta(2, theta) / self.zetan)
            if n > 2
            else 0.0
        )
        self.second_threshold = 1.0 + 0.5**theta

    def next_rank(self) -> int:
        """Return a rank in 0..n-1; P(rank = r) is close to (r + 1)**-theta / zeta(n)."""
        u = self.rng.random()
        uz = u * self.zetan
        if uz < 1.0:
            return 0
        if uz < self.second_threshold:
            return min(1, self.n - 1)
        rank = int(self.n * (self.eta * u - self.eta + 1.0) ** self.alpha)
        return min(rank, self.n - 1)


class ZipfianChooser:
    """Scrambled zipfian over 1..n (YCSB's default request distribution)."""

    def __init__(self, n: int, rng: random.Random, theta: float = ZIPFIAN_THETA) -> None:
        self.n = n
        self.ranks = ZipfianRanks(n, rng, theta)
        self.order = scrambled_order(n)

    def next_key(self) -> int:
        """Return the id of a zipfian-drawn rank; the hottest ids are scattered over 1..n."""
        return self.order[self.ranks.next_rank()]

    def record_write(self, key: int) -> None:
        """Popularity does not follow writes."""


class UniformChooser:
    """Every id in 1..n equally likely."""

    def __init__(self, n: int, rng: random.Random) -> None:
        if n < 1:
            raise ValueError(f"need at least one item, got n={n}")
        self.n = n
        self.rng = rng

    def next_key(self) -> int:
        """Return an id drawn uniformly from 1..n."""
        return self.rng.randint(1, self.n)

    def record_write(self, key: int) -> None:
        """Popularity does not follow writes."""


class HotspotChooser:
    """YCSB's HotspotIntegerGenerator: `op_fraction` of draws go to the low `set_fraction`."""

    def __init__(
        self,
        n: int,
        rng: random.Random,
        set_fraction: float = HOTSPOT_SET_FRACTION,
        op_fraction: float = HOTSPOT_OP_FRACTION,
    ) -> None:
        if n < 1:
            raise ValueError(f"need at least one item, got n={n}")
        self.n = n
        self.rng = rng
        self.op_fraction = op_fraction
        # YCSB truncates; we keep at least one hot id so tiny ranges still have a hot set.
        self.hot_count = max(1, int(n * set_fraction))
        self.cold_count = n - self.hot_count

    def next_key(self) -> int:
        """Return a hot id (1..hot_count) with probability op_fraction, else a cold one."""
        if self.cold_count == 0 or self.rng.random() < self.op_fraction:
            return 1 + self.rng.randrange(self.hot_count)
        return 1 + self.hot_count + self.rng.randrange(self.cold_count)

    def record_write(self, key: int) -> None:
        """Popularity does not follow writes."""


class LatestChooser:
    """Zipfian over recency: rank 0 is the id written last, rank 1 the one before...

    Recency is the ids passed to `record_write`, most recent first, each once; the ids
    never written follow, highest id first (YCSB's "latest" is the highest inserted key,
    so before any write this favours N, N-1, ...). Ranks are not scrambled: recency is
    the whole point. A draw costs O(log n); a write O(ids written so far), not O(n),
    so a large catalogue costs no memory until it is written.
    """

    def __init__(self, n: int, rng: random.Random, theta: float = ZIPFIAN_THETA) -> None:
        self.n = n
        self.ranks = ZipfianRanks(n, rng, theta)
        self.recent: list[int] = []  # distinct written ids, most recent first
        self.written_sorted: list[int] = []  # the same ids, ascending, for order statistics
        self.written: set[int] = set()

    def next_key(self) -> int:
        """Return the id at a zipfian-drawn rank of recency."""
        return self.key_at_rank(self.ranks.next_rank())

    def key_at_rank(self, rank: int) -> int:
        """The id at `rank` of recency (0 = written last); ranks 0..n-1 cover every id once."""
        if rank < len(self.recent):
            return self.recent[rank]
        return self._unwritten_from_top(rank - len(self.recent))

    def record_write(self, key: int) -> None:
        """Move `key` to the front of recency."""
        if not 1 <= key <= self.n:
            raise ValueError(f"key {key} outside 1..{self.n}")
        if key in self.written:
            self.recent.remove(key)
        else:
            self.written.add(key)
            bisect.insort(self.written_sorted, key)
        self.recent.insert(0, key)

    def _unwritten_from_top(self, index: int) -> int:
        """The index-th (0-based) largest id in 1..n that was never written."""
        if not self.written_sorted:
            return self.n - index
        wanted = index + 1
        low, high = 1, self.n
        # Largest x with (unwritten ids >= x) >= wanted; that count only falls as x grows.
        while low < high:
            mid = (low + high + 1) // 2
            written_at_or_above = len(self.written_sorted) - bisect.bisect_left(
                self.written_sorted, mid
            )
            if (self.n - mid + 1) - written_at_or_above >= wanted:
                low = mid
            else:
                high = mid - 1
        return low


CHOOSERS: dict[str, Callable[[int, random.Random], KeyChooser]] = {
    "zipfian": ZipfianChooser,
    "uniform": UniformChooser,
    "hotspot": HotspotChooser,
    "latest": LatestChooser,
}


def make_chooser(name: str, n: int, rng: random.Random) -> KeyChooser:
    """Build the chooser registered as `name` over ids 1..n, drawing from `rng`."""
    try:
        factory = CHOOSERS[name]
    except KeyError:
        raise ValueError(f"unknown key distribution {name!r}; known: {sorted(CHOOSERS)}") from None
    return factory(n, rng)
