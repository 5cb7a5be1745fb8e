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
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import gevent
from gevent.pool import Group
from locust import FastHttpUser, events, task
from locust.env import Environment

import scenarios.recorder  # noqa: F401  (registers the request listener on import)
from scenarios.keys import KeyChooser, make_chooser
from scenarios.workload_config import WorkloadConfig

PRODUCT_NAME = "/products/{id}"
CATEGORY_NAME = "/categories/{category}/products"
# Open-loop requests of this process still waiting for an answer. At the test's end they
# get ARRIVALS_STOP_S to answer (a slow answer is data) before they are dropped.
_in_flight = Group()
ARRIVALS_STOP_S = 2.0
TIMER_SLACK_NS = 1_200_000  # how early a timer is set, then made up by yielding
MAX_PHASE_S = 1.0  # a closed-loop user's random start, at most


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


@events.test_stop.add_listener
def _finish_arrivals(**_kwargs: Any) -> None:
    _in_flight.join(timeout=ARRIVALS_STOP_S)
    _in_flight.kill(block=False)


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
    # FastHttpSession's connections per user: open-loop requests overlap while a replica
    # stalls (200 req/s through a 1 s pause is 200 in flight); closed loop uses one.
    concurrency = 500

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
        # open loop: this user's arrivals, a Poisson process at its share of the rate (the
        # users' together are one at the total); a generator of their own, so the ops and
        # keys drawn are the closed loop's, request for request
        self.open_loop = config.arrivals == "open"
        self.arrivals_rng = random.Random(f"{user_seed}:arrivals")
        self.next_arrival_ns: int | None = None
        self.next_slot_s = 0.0  # closed loop at a rate: when this user's next period starts
        self.op_methods: dict[str, Callable[[int | None], None]] = {
            "read": self.read_product,
            "write": self.write_product,
            "list": self.read_category,
        }

    def on_start(self) -> None:
        """A closed-loop user paced at a rate starts at a random phase of its period (of
        its first MAX_PHASE_S at most: a user paced at one request a minute need not
        wait a minute for its first)."""
        if not self.open_loop and self.config.user_rate:
            period = 1.0 / self.config.user_rate
            gevent.sleep(self.arrivals_rng.uniform(0.0, min(period, MAX_PHASE_S)))
        self.next_slot_s = time.time()

    def wait_time(self) -> float:
        """Seconds until the next request: none (open loop keeps its own schedule in
        `arrive`, and `max` sends at once), or the start of this user's next period.

        Periods run on a fixed grid from the user's random phase, not from its last send
        as Locust's `constant_throughput` counts them: with that, any stall of the process
        (a flush, a slow answer) made every user that was due meanwhile send at once, and
        from then on they stayed in step. Within seconds all 20 users sent together every
        100 ms (20 sends inside 5 ms), and the queue they made tripled the read p50 (4.7
        ms where open-loop arrivals at the same rate saw 1.2). A user that missed a period
        (its answer came late) skips it: closed loop, never a backlog.
        """
        rate = self.config.user_rate
        if self.open_loop or not rate:
            return 0.0
        now, period = time.time(), 1.0 / rate
        self.next_slot_s += period
        if self.next_slot_s < now:
            self.next_slot_s += math.ceil((now - self.next_slot_s) / period) * period
        return self.next_slot_s - now

    @task
    def step(self) -> None:
        """One request, its op drawn from `mix`: now (closed loop), or at the next arrival."""
        if self.open_loop:
            self.arrive()
            return
        op = self.rng.choices(self.ops, cum_weights=self.cum_weights)[0]
        self.op_methods[op](None)

    def arrive(self) -> None:
        """Wait for this user's next arrival, then send it in a greenlet of its own: the
        schedule never waits for an answer, so a stalled replica's queue shows in the
        latency from the intended start (no coordinated omission)."""
        assert self.config.user_rate is not None  # checked in WorkloadConfig
        if self.next_arrival_ns is None:
            self.next_arrival_ns = time.time_ns()
        self.next_arrival_ns += int(self.arrivals_rng.expovariate(self.config.user_rate) * 1e9)
        intended = self.next_arrival_ns
        wait_until_ns(intended)
        op = self.rng.choices(self.ops, cum_weights=self.cum_weights)[0]
        _in_flight.spawn(self.op_methods[op], intended)

    def target(self) -> str:
        """A random replica's base URL, like a load balancer's pick."""
        return self.route_rng.choice(self.targets)

    def read_product(self, intended_ns: int | None) -> None:
        """GET /products/{id}."""
        key, target = self.read_chooser.next_key(), self.target()
        with self.client.get(
            f"{target}/products/{key}",
            name=PRODUCT_NAME,
            context=request_context("read", str(key), intended_ns, target),
            catch_response=True,
        ) as response:
            _fail_unless_2xx(response)

    def write_product(self, intended_ns: int | None) -> None:
        """PATCH /products/{id} with a new price or name; tells the choosers it was written."""
        key = self.write_chooser.next_key()
        if self.rng.random() < 0.5:
            body: dict[str, Any] = {"price": round(self.rng.uniform(1.0, 1000.0), 2)}
        else:
            body = {"name": f"product {key} rev {self.rng.getrandbits(32):08x}"}
        target = self.target()
        with self.client.request(
            "PATCH",
            f"{target}/products/{key}",
            name=PRODUCT_NAME,
            json=body,
            context=request_context("write", str(key), intended_ns, target),
            catch_response=True,
        ) as response:
            if _fail_unless_2xx(response):
                self.read_chooser.record_write(key)

    def read_category(self, intended_ns: int | None) -> None:
        """GET /categories/{c}/products for the category of a product drawn as for reads."""
        category, target = self.config.category_of(self.read_chooser.next_key()), self.target()
        with self.client.get(
            f"{target}/categories/{category}/products",
            name=CATEGORY_NAME,
            context=request_context("list", category, intended_ns, target),
            catch_response=True,
        ) as response:
            _fail_unless_2xx(response)


def wait_until_ns(when_ns: int) -> None:
    """Sleep until the wall clock reads `when_ns`. gevent's timers wake up to a millisecond
    late (the loop polls with a millisecond timeout), which was most of an arrival's
    lateness (p50 0.7 ms, 24% beyond 1 ms at 200 req/s): so sleep until TIMER_SLACK_NS
    before, then yield to the other greenlets until the moment comes."""
    delay_s = (when_ns - TIMER_SLACK_NS - time.time_ns()) / 1e9
    if delay_s > 0:
        gevent.sleep(delay_s)
    while time.time_ns() < when_ns:
        gevent.sleep(0)


def request_context(op: str, key: str, intended_ns: int | None, target: str) -> dict[str, Any]:
    """What the recorder reads besides the response: op, key, the intended start, and the
    target, which names the replica when the answer has no X-Replica."""
    if intended_ns is None:
        return {"op": op, "key": key, "target": target}
    return {"op": op, "key": key, "intended_ns": intended_ns, "target": target}


def _fail_unless_2xx(response: Any) -> bool:
    """Mark a non-2xx answer (0 = no answer at all) as a failure; return whether it was 2xx."""
    if 200 <= response.status_code < 300:
        return True
    response.failure(f"HTTP {response.status_code}")
    return False
