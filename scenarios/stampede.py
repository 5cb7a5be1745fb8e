"""The thundering herd: 4 very hot ids, read by every user at once, writes rare.

With a short TTL (the harness defaults `--ttl 2` for this scenario) and a slow origin
(`--origin-delay-ms 50`), each hot key expires every two seconds while readers keep
coming: every reader that misses before the first refill lands queries the origin
too. How many do, per expiry, is the herd the analysis counts.
"""

from scenarios import recorder  # noqa: F401  (registers the request listener)
from scenarios.workload import BenchUser, OpMix

HOT_KEYS = 4


class StampedeUser(BenchUser):
    mix = OpMix(read=99, write=1)
    read_keys = "uniform"
    write_keys = "uniform"
    key_space = HOT_KEYS
