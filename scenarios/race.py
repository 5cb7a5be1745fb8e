"""The read/write race: 8 hot ids, 50% reads, 50% writes, uniform over ids 1..8.

With a slow origin (the harness sets ORIGIN_DELAY_MS) a read that missed can fetch the
old row, lose the race to a write's delete, and put the old row back in the cache.
Few keys and many writes make that interleaving frequent enough to measure.
"""

from scenarios.workload import BenchUser, OpMix

HOT_KEYS = 8


class RaceUser(BenchUser):
    mix = OpMix(read=50, write=50)
    read_keys = "uniform"
    write_keys = "uniform"
    key_space = HOT_KEYS
