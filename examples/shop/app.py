"""A product catalogue with a Redis cache in front of SQLite: the kind of service
`bench run --runtime external` measures. It knows nothing of the benchmark.

Cache-aside, as most services write it: a read looks in Redis, falls back to the
database and fills the cache for SHOP_CACHE_TTL seconds; a write updates the row, then
deletes the product's key and its category's list. It answers `X-Cache: HIT` or `MISS`
and names itself in `X-Replica`, which the benchmark reads when they are there.

Settings (environment): SHOP_DB (the SQLite file `seed.py` made), SHOP_REDIS_URL,
SHOP_CACHE_TTL (seconds, default 60), SHOP_REPLICA (default: the host name).
Run a replica: `uvicorn --app-dir examples/shop app:app --port 8001`.
"""

import json
import os
import socket
import sqlite3
import threading
from datetime import UTC, datetime

import redis
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

DB_PATH = os.environ.get("SHOP_DB", "shop.db")
TTL_MS = int(float(os.environ.get("SHOP_CACHE_TTL", "60")) * 1000)
REPLICA = os.environ.get("SHOP_REPLICA") or socket.gethostname()
cache = redis.Redis.from_url(os.environ.get("SHOP_REDIS_URL", "redis://127.0.0.1:6379/0"))
local = threading.local()
app = FastAPI(title="shop")


class Changes(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    price: float | None = Field(default=None, ge=0)


def db() -> sqlite3.Connection:
    """One connection per worker thread; FastAPI runs these handlers in a thread pool."""
    if not hasattr(local, "db"):
        local.db = sqlite3.connect(DB_PATH, timeout=10)
        local.db.row_factory = sqlite3.Row
    return local.db


def product_key(product_id: int) -> str:
    return f"shop:product:{product_id}"


def category_key(category: str) -> str:
    return f"shop:category:{category}"


def answer(body: bytes, hit: bool) -> Response:
    headers = {"X-Cache": "HIT" if hit else "MISS", "X-Replica": REPLICA}
    return Response(body, media_type="application/json", headers=headers)


def load_product(product_id: int) -> dict | None:
    row = db().execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
    return dict(row) if row else None


@app.get("/products/{product_id}")
def get_product(product_id: int) -> Response:
    cached = cache.get(product_key(product_id))
    if cached is not None:
        return answer(cached, hit=True)
    product = load_product(product_id)
    if product is None:
        raise HTTPException(404, f"product {product_id} not found")
    body = json.dumps(product).encode()
    cache.set(product_key(product_id), body, px=TTL_MS)
    return answer(body, hit=False)


@app.patch("/products/{product_id}")
def update_product(product_id: int, changes: Changes) -> Response:
    fields = changes.model_dump(exclude_none=True)
    if not fields:
        raise HTTPException(422, "give name, price or both")
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    now = datetime.now(UTC).isoformat()
    with db():  # one transaction: the row and its new version together
        row = (
            db()
            .execute(
                f"UPDATE products SET {assignments}, version = version + 1, updated_at = :now"
                " WHERE id = :id RETURNING *",
                {**fields, "now": now, "id": product_id},
            )
            .fetchone()
        )
    if row is None:
        raise HTTPException(404, f"product {product_id} not found")
    product = dict(row)
    cache.delete(product_key(product_id), category_key(product["category"]))
    return answer(json.dumps(product).encode(), hit=False)


@app.get("/categories/{category}/products")
def list_category(category: str) -> Response:
    cached = cache.get(category_key(category))
    if cached is not None:
        return answer(cached, hit=True)
    rows = (
        db()
        .execute("SELECT * FROM products WHERE category = ? ORDER BY id", (category,))
        .fetchall()
    )
    body = json.dumps({"category": category, "items": [dict(r) for r in rows]}).encode()
    cache.set(category_key(category), body, px=TTL_MS)
    return answer(body, hit=False)
