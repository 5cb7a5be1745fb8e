"""`guarded`: version-guarded fills (the idea of Uber's CacheFront: compare versions
before a fill), against a read replica that lags.

A write commits, then in one Lua script leaves a floor for the product,
`floor:product:{id}` = the new version for GUARDED_FLOOR_MS, and deletes the product's
keys (its own and its category list). Every fill goes through one other script, which
stores the value only if each product in it is at least its floor and at least the
version of the same product in the value cached now (an equal version refills; an older
one never overwrites a newer). A reader that misses within the replica's lag reads the
old row: it is answered (`X-Cache: miss`, the origin's answer, old because the replica
is), but it is not cached. Once the replica has applied the write, the next miss fills
the new row. The read/write race is closed the same way: a row read before the write
and filled after its delete is below the floor.

Lists embed products, so a list fill is guarded item by item, as the staleness checker
judges lists: it is refused when any item is below that product's floor or below its
copy in the list cached now. A lagging replica's list that holds one old item is
answered and not cached, like an old product.

The floor must outlast the replica's lag (and a read's duration): a fill of an old row
that comes after the floor expired is accepted, as in `delete`. The floor is raised,
never lowered: two writes of one product from two replicas leave the higher version,
whatever the order their scripts run in. With Redis away it fails open: no floor, no
fill, the origin answers.
"""

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from services.origin import Product
from services.strategies.base import Deps, Served, encode, list_key, product_key
from services.strategies.delete import DeleteStrategy

# KEYS: the product's floor, then the keys to drop. ARGV: the new version, the floor's
# TTL in ms. Returns how many keys it deleted.
FLOOR_AND_DELETE = """
local floor = tonumber(redis.call('GET', KEYS[1]))
if not floor or floor < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return redis.call('DEL', unpack(KEYS, 2))
"""
# KEYS: the value's key, then the floor of each product it holds. ARGV: the body, its TTL
# in ms, then each product's id and version, in the order of KEYS. Returns 1 if it
# filled, 0 if a product was below its floor or below its copy in the cached value.
GUARDED_FILL = """
local versions = {}
for i = 2, #KEYS do
  local id, version = ARGV[2 * i - 1], tonumber(ARGV[2 * i])
  local floor = tonumber(redis.call('GET', KEYS[i]))
  if floor and version < floor then return 0 end
  versions[id] = version
end
local cached = redis.call('GET', KEYS[1])
if cached then
  local ok, doc = pcall(cjson.decode, cached)
  if ok and type(doc) == 'table' then
    local items = doc.items
    if type(items) ~= 'table' then items = {doc} end
    for _, item in ipairs(items) do
      if type(item) == 'table' and item.id ~= nil then
        local version, have = versions[tostring(item.id)], tonumber(item.version)
        if version and have and version < have then return 0 end
      end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


def floor_key(key: str) -> str:
    return f"floor:{key}"


class GuardedStrategy(DeleteStrategy):
    name: ClassVar[str] = "guarded"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self.floor_ms: int = deps.settings.options["floor-ms"]
        self._floor_and_delete = self.cache.redis.register_script(FLOOR_AND_DELETE)
        self._fill = self.cache.redis.register_script(GUARDED_FILL)
        self.refused = 0  # fills the guard refused, in this replica

    def health(self) -> dict[str, Any]:
        return {"guarded_floor_ms": self.floor_ms, "refused_fills": self.refused}

    async def get_product(self, product_id: int) -> Served | None:
        return await self._guarded_read(
            product_key(product_id), lambda: self.origin.get_product(product_id), lambda p: [p]
        )

    async def list_category(self, category: str) -> Served:
        served = await self._guarded_read(
            list_key(category), lambda: self.load_list(category), lambda doc: doc["items"]
        )
        assert served is not None  # a list is never None, at worst empty
        return served

    async def _guarded_read(
        self,
        key: str,
        load: Callable[[], Awaitable[Any]],
        products: Callable[[Any], list[Product]],
    ) -> Served | None:
        """Redis first; on a miss the origin answers, and its value is cached only if
        the guard lets it (`products` names the products the value holds)."""
        served = await self.from_redis(key)
        if served is not None:
            return served
        self.metrics.misses["redis"].inc()
        self.metrics.origin_reads.inc()
        value = await load()
        if value is None:
            return None
        body = encode(value)
        if not self.cache.down:
            await self.cache.call("guarded fill", self.fill(key, body, products(value)), None)
        return Served(body, "miss")

    async def fill(self, key: str, body: bytes, products: list[Product]) -> bool:
        """Store `body` under `key` if every product in it is at least its floor and its
        cached copy; False when the guard refused it."""
        keys = [key, *(floor_key(product_key(p["id"])) for p in products)]
        args: list[Any] = [body, int(self.ttl_s * 1000)]
        for p in products:
            args += [p["id"], p["version"]]
        filled = bool(await self._fill(keys=keys, args=args))
        if not filled:
            self.refused += 1
        return filled

    async def update_product(self, product_id: int, changes: dict[str, Any]) -> bytes | None:
        row = await self.origin.update_product(product_id, changes)
        if row is None:
            return None
        keys = self.keys_to_drop(product_id, row["category"])
        floor = floor_key(product_key(product_id))
        invalidations = self.cache.invalidations
        invalidations.applied("del_sent", keys)
        done = self._floor_and_delete(keys=[floor, *keys], args=[row["version"], self.floor_ms])
        if await self.cache.call("floor and DEL", done, None) is not None:
            invalidations.applied("del_done", keys)
        self.metrics.invalidations_sent.inc()
        return encode(row)
