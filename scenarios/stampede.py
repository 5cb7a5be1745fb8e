"""The thundering herd: 4 very hot ids, read by every user at once, writes rare.

With a short TTL (the harness defaults `--ttl 2` for this scenario) and a slow origin
(`--origin-delay-ms 50`), each hot key expires every two seconds while readers keep
coming: every reader that misses before the first refill lands queries the origin
too. How many do, per expiry, is the herd the analysis counts.

Writes are one op in a thousand: at the ~700 requests/s this machine drives, a hot key
is written about every 6 s, three times its TTL, so expiries, not invalidations, make
most herds. (At 1% a key was deleted about as often as it expired, and early refresh,
which only acts before an expiry, was hidden behind the write's plain misses.)
"""

from scenarios.workload import BenchUser, OpMix

HOT_KEYS = 4


class StampedeUser(BenchUser):
    mix = OpMix(read=999, write=1)
    read_keys = "uniform"
    write_keys = "uniform"
    key_space = HOT_KEYS
