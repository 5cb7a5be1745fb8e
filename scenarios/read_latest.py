"""YCSB workload D style: 95% reads that favour the ids this user wrote last, 5% writes.

YCSB D inserts new records and reads the newest; here writes update uniformly drawn ids
and reads follow them (zipfian over recency), so a read soon after a write of the same
id is the common case: rule 5, "a write is visible on the next read".
"""

from scenarios.workload import BenchUser, OpMix


class ReadLatestUser(BenchUser):
    mix = OpMix(read=95, write=5)
    read_keys = "latest"
    write_keys = "uniform"
