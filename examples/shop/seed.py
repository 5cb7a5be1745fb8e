"""Create the shop's SQLite catalogue in the layout `bench contract` checks.

Products 1..N, product i in category c{(i-1) % C}, then the probe's products, in a
category of their own that no load lists: `python examples/shop/seed.py shop.db
--products 1000 --categories 10 --probe-ids 1001-1016`. Replaces an existing file.
"""

import argparse
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price REAL NOT NULL,
    category TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX products_category ON products (category);
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db", type=Path)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--probe-ids", default="1001-1016", help="FIRST-LAST")
    args = parser.parse_args()
    first, _, last = args.probe_ids.partition("-")
    now = datetime.now(UTC).isoformat()
    rows = [(i, f"product {i}", 10.0, f"c{(i - 1) % args.categories}", 1, now)
            for i in range(1, args.products + 1)]  # fmt: skip
    rows += [(i, f"probe {i}", 1.0, "probe", 1, now) for i in range(int(first), int(last) + 1)]
    args.db.unlink(missing_ok=True)
    with sqlite3.connect(args.db) as db:
        db.execute("PRAGMA journal_mode = WAL")  # readers do not wait for the writer
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)", rows)
    print(f"{args.db}: {len(rows)} products")


if __name__ == "__main__":
    main()
