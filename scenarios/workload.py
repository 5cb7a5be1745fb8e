"""The user every scenario shares: targets, op mix, seeded keys, checks, recording.

A locustfile only subclasses `BenchUser` and states its op mix and key distributions.
Everything else comes from the BENCH_* environment variables (`scenarios.workload_config`),
read when the first user starts, not at import, so the harness (local or compose)
configures a scenario without Locust options. Plus the recorder's BENCH_RUN_DIR,
BENCH_STRATEGY, BENCH_RECORD (see scenarios.recorder).
"""

from __future__ import annotations

import functools
import itertools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment

import scenarios.recorder  # noqa: F401  (registers the request listener on import)
from scenarios.keys import KeyChooser, make_chooser
from scenarios.workload_config import WorkloadConfig

PRODUCT_NAME = "/products/{id}"
CATEGORY_NAME = "/categories/{category}/products"


@functools.cache
def workload_config() -> WorkloadConfig:
    """This Locust process's BENCH_* settings, read once, at start-up."""
    return WorkloadConfig.from_env()


@events.init.add_listener
def _check_workload(**_kwargs: Any) -> None:
    """A bad BENCH_* value stops Locust at start-up with one line, before any user runs.

    SystemExit, because Locust logs and swallows an Exception raised by a listener and
    would then run the whole test with no user able to start."""
    try:
        workload_config()
    except (RuntimeError, ValueError) as exc:
        sys.exit(f"bad workload settings: {exc}")


@dataclass(frozen=True)
class OpMix:
    """Relative weights of the three ops a user sends."""

    read: int = 0
    write: int = 0
    list: int = 0

    def weighted_ops(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The ops with a positive weight and their cumulative weights, for `choices`."""
        weights = {"read": self.read, "write": self.write, "list": self.list}
        ops = tuple(op for op, weight in weights.items() if weight > 0)
        if not ops:
            raise ValueError("an OpMix needs at least one positive weight")
        return ops, tuple(itertools.accumulate(weights[op] for op in ops))


# Users of one process are numbered in spawn order; with the worker index this names a
# user uniquely across a distributed run.
_user_numbers = itertools.count()


class BenchUser(FastHttpUser):
    """One simulated client: picks an op by weight, a key by distribution, a random replica.

    Subclasses set `mix` (an `OpMix` of `read`, `write`, `list` weights), `read_keys` and
    `write_keys` (names from `scenarios.keys.CHOOSERS`) and optionally `key_space` (draw
    ids from 1..key_space instead of 1..BENCH_PRODUCTS). The op is chosen from the user's
    own seeded generator, not with `@task` weights, because Locust picks weighted tasks
    with the global `random`, which would make the op sequence unrepeatable.
    """

    abstract = True

    mix: ClassVar[OpMix] = OpMix(read=95, write=5)
    read_keys: ClassVar[str] = "zipfian"
    write_keys: ClassVar[str] = "zipfian"
    key_space: ClassVar[int | None] = None

    def __init__(self, environment: Environment) -> None:
        config = self.config = workload_config()
        if self.host is None and config.targets:
            # Locust wants a host; every request uses an absolute URL to a target anyway.
            self.host = config.targets[0]
        super().__init__(environment)  # raises if there is neither BENCH_TARGETS nor --host
        rate = config.user_rate
        self.pacing = constant_throughput(rate) if rate else constant(0)
        self.targets = config.targets or (str(self.host).rstrip("/"),)
        worker_index = getattr(environment.runner, "worker_index", 0)
        user_seed = f"{config.seed}:{worker_index}:{next(_user_numbers)}"
        self.rng = random.Random(user_seed)
        # Routing has its own generator so the key sequence does not depend on how many
        # replicas there are: the same seed sends the same keys to 1 or to 3 replicas.
        self.route_rng = random.Random(f"{user_seed}:route")
        n = self.key_space or config.products
        self.read_chooser: KeyChooser = make_chooser(self.read_keys, n, self.rng)
        self.write_chooser: KeyChooser = (
            self.read_chooser
            if self.write_keys == self.read_keys
            else make_chooser(self.write_keys, n, self.rng)
        )
        self.ops, self.cum_weights = self.mix.weighted_ops()
        self.op_methods: dict[str, Callable[[], None]] = {
            "read": self.read_product,
            "write": self.write_product,
            "list": self.read_category,
        }

    def wait_time(self) -> float:
        """Seconds until the next request: BENCH_USER_RATE's pacing, or none."""
        return self.pacing(self)

    @task
    def step(self) -> None:
        """One request, its op drawn from `mix`."""
        op = self.rng.choices(self.ops, cum_weights=self.cum_weights)[0]
        self.op_methods[op]()

    def target(self) -> str:
        """A random replica's base URL, like a load balancer's pick."""
        return self.route_rng.choice(self.targets)

    def read_product(self) -> None:
        """GET /products/{id}."""
        key = self.read_chooser.next_key()
        with self.client.get(
            f"{self.target()}/products/{key}",
            name=PRODUCT_NAME,
            context={"op": "read", "key": str(key)},
            catch_response=True,
        ) as response:
            _fail_unless_2xx(response)

    def write_product(self) -> None:
        """PATCH /products/{id} with a new price or name; tells the choosers it was written."""
        key = self.write_chooser.next_key()
        if self.rng.random() < 0.5:
            body: dict[str, Any] = {"price": round(self.rng.uniform(1.0, 1000.0), 2)}
        else:
            body = {"name": f"product {key} rev {self.rng.getrandbits(32):08x}"}
        with self.client.request(
            "PATCH",
            f"{self.target()}/products/{key}",
            name=PRODUCT_NAME,
            json=body,
            context={"op": "write", "key": str(key)},
            catch_response=True,
        ) as response:
            if _fail_unless_2xx(response):
                self.read_chooser.record_write(key)

    def read_category(self) -> None:
        """GET /categories/{c}/products for the category of a product drawn as for reads."""
        category = self.config.category_of(self.read_chooser.next_key())
        with self.client.get(
            f"{self.target()}/categories/{category}/products",
            name=CATEGORY_NAME,
            context={"op": "list", "key": category},
            catch_response=True,
        ) as response:
            _fail_unless_2xx(response)


def _fail_unless_2xx(response: Any) -> bool:
    """Mark a non-2xx answer (0 = no answer at all) as a failure; return whether it was 2xx."""
    if 200 <= response.status_code < 300:
        return True
    response.failure(f"HTTP {response.status_code}")
    return False
