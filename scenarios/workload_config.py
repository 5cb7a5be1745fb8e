"""What a scenario reads from the environment, checked, free of Locust.

Kept apart from `scenarios.workload` (which imports locust, and with it gevent's
patching) so that tests and the harness can read and check it safely:

- BENCH_TARGETS: comma-separated replica base URLs; each request goes to a random one,
  as behind a load balancer. Unset, Locust's `--host` is the only target.
- BENCH_PRODUCTS: N, load products are ids 1..N (default 1000).
- BENCH_CATEGORIES: C, categories `c0..c{C-1}`, product i is in `c{(i-1) % C}` (default 10).
- BENCH_SEED: each user's generator is seeded from it, the worker and the user index, so
  a run's request sequence per user repeats (default 0).
- BENCH_USER_RATE: requests per second per user (closed loop: one period each, on a fixed
  grid from a random phase); unset, empty or `max` means no wait at all.
- BENCH_ARRIVALS: `closed` (default): a user sends its next request once the last one
  answered, paced by BENCH_USER_RATE. `open`: each user's requests arrive as a Poisson
  process at BENCH_USER_RATE, sent on time whatever the earlier ones are doing, each
  recorded with its intended start (needs a rate).
- BENCH_REQUEST_TIMEOUT_S: a request's deadline in seconds, from its send to the end of
  its answer's body (default 10); past it the request is given up and recorded as a
  timeout.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

ARRIVALS = ("closed", "open")
REQUEST_TIMEOUT_S = 10.0  # BENCH_REQUEST_TIMEOUT_S unless set


@dataclass(frozen=True)
class WorkloadConfig:
    """The BENCH_* settings a scenario reads; see the module docstring."""

    targets: tuple[str, ...]  # empty: use Locust's --host
    products: int
    categories: int
    seed: int
    user_rate: float | None  # requests/s per user; None = as fast as possible
    arrivals: str = "closed"  # or "open"
    request_timeout_s: float = REQUEST_TIMEOUT_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> WorkloadConfig:
        """Read and validate the BENCH_* variables; fail loudly on a bad value."""
        targets = tuple(
            url.strip().rstrip("/")
            for url in environ.get("BENCH_TARGETS", "").split(",")
            if url.strip()
        )
        rate_text = environ.get("BENCH_USER_RATE", "").strip().lower()
        user_rate = None if rate_text in ("", "max") else float(rate_text)
        if user_rate is not None and user_rate <= 0:
            raise RuntimeError(f"BENCH_USER_RATE must be positive or 'max', got {rate_text!r}")
        config = cls(
            targets=targets,
            products=int(environ.get("BENCH_PRODUCTS", "1000")),
            categories=int(environ.get("BENCH_CATEGORIES", "10")),
            seed=int(environ.get("BENCH_SEED", "0")),
            user_rate=user_rate,
            arrivals=environ.get("BENCH_ARRIVALS", "closed").strip().lower() or "closed",
            request_timeout_s=float(environ.get("BENCH_REQUEST_TIMEOUT_S", "").strip()
                                    or REQUEST_TIMEOUT_S),
        )  # fmt: skip
        if config.products < 1 or config.categories < 1:
            raise RuntimeError("BENCH_PRODUCTS and BENCH_CATEGORIES must be at least 1")
        if config.arrivals not in ARRIVALS:
            raise RuntimeError(f"BENCH_ARRIVALS must be one of {', '.join(ARRIVALS)},"
                               f" got {config.arrivals!r}")  # fmt: skip
        if not (math.isfinite(config.request_timeout_s) and config.request_timeout_s > 0):
            raise RuntimeError("BENCH_REQUEST_TIMEOUT_S must be a positive number of seconds,"
                               f" got {config.request_timeout_s}")  # fmt: skip
        if config.arrivals == "open" and user_rate is None:
            raise RuntimeError("BENCH_ARRIVALS=open needs a BENCH_USER_RATE to schedule at")
        return config

    def category_of(self, product_id: int) -> str:
        """The category the seed put `product_id` in."""
        return f"c{(product_id - 1) % self.categories}"
