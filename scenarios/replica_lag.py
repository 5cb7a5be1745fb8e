"""A read replica that lags: 20 hot ids read uniformly, 2% writes, spread over them.

With the origin's reads on a replica `--origin-lag-ms` behind (the harness defaults
`--origin postgres --origin-lag-ms 200` for this scenario), the first miss after a
write's delete reads the OLD row from the replica and puts it back in the cache, where it
stays until the key's next write or its TTL. At the default 300 requests/s a hot id is
read about 15 times a second, so that first miss nearly always falls inside the lag, and
written about every 3 s, so the stale refill outlives the lag many times over: the
production case the guide's "delete on write" does not cover.
"""

from scenarios.workload import BenchUser, OpMix

HOT_KEYS = 20


class ReplicaLagUser(BenchUser):
    mix = OpMix(read=98, write=2)
    read_keys = "uniform"
    write_keys = "uniform"
    key_space = HOT_KEYS
