"""YCSB workload A: update heavy, 50% product reads, 50% product writes, zipfian keys.

Invalidation is the common path here: shows over-invalidation (hit ratio collapsing)
and the strategies' write cost.
"""

from scenarios.workload import BenchUser, OpMix


class UpdateHeavyUser(BenchUser):
    mix = OpMix(read=50, write=50)
    read_keys = "zipfian"
    write_keys = "zipfian"
