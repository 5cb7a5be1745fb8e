"""YCSB workload B: read mostly, 95% product reads, 5% product writes, zipfian keys.

The everyday catalogue: shows hit ratio and latency, and how stale a read can be when
most writes hit the same few hot ids.
"""

from scenarios.workload import BenchUser, OpMix


class ReadMostlyUser(BenchUser):
    mix = OpMix(read=95, write=5)
    read_keys = "zipfian"
    write_keys = "zipfian"
