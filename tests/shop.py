"""The example shop (examples/shop) started as a user would run it: its own SQLite file and
uvicorn replicas on a Redis the test gives, for the tests that measure a service the
suite did not start (tests/test_external.py, tests/test_ci_example.py)."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.runtime.ports import free_port
from bench.runtime.processes import Supervisor
from bench.runtime.waiting import wait_http_ok

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop"
CATALOGUE = ["--products", "200", "--categories", "5", "--probe-ids", "201-208"]


def start_shop(tmp: Path, redis_urls: list[str]) -> Iterator[list[str]]:
    """One shop replica per Redis URL, named shop-a, shop-b...; yields their URLs."""
    db = tmp / "shop.db"
    subprocess.run([sys.executable, str(SHOP / "seed.py"), str(db), *CATALOGUE],
                   check=True, capture_output=True)  # fmt: skip
    with Supervisor() as supervisor:
        urls = []
        for i, redis_url in enumerate(redis_urls):
            name, port = f"shop-{'ab'[i]}", free_port()
            env = {"SHOP_DB": str(db), "SHOP_REDIS_URL": redis_url, "SHOP_REPLICA": name}
            argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(SHOP), "app:app",
                    "--port", str(port), "--log-level", "warning"]  # fmt: skip
            child = supervisor.start(name, argv, tmp / f"{name}.log", extra_env=env)
            urls.append(f"http://127.0.0.1:{port}")
            wait_http_ok(f"{urls[-1]}/products/1", 30, child=child)
        yield urls
