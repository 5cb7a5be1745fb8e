"""Category lists mixed with product writes: 60% lists, 30% product reads, 10% writes.

A list embeds its products, so a strategy that drops only `product:{id}` on a write
serves stale lists: the partial-key gotcha. Lists are picked through the category of a
zipfian product id, so popular products make their categories popular.
"""

from scenarios.workload import BenchUser, OpMix


class ListsUser(BenchUser):
    mix = OpMix(list=60, read=30, write=10)
    read_keys = "zipfian"
    write_keys = "zipfian"
