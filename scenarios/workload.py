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
from gevent import GreenletExit
from gevent.pool import Group
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING

import scenarios.recorder  # noqa: F401  (registers the request listener on import)
from scenarios.keys import KeyChooser, make_chooser
from scenarios.request_rows import TIMEOUT, UNANSWERED, answer_fields
from scenarios.workload_config import WorkloadConfig

PRODUCT_NAME = "/products/{id}"
CATEGORY_NAME = "/categories/{category}/products"
# Open-loop requests of this process still waiting for an answer. At the test's end they
# get ARRIVALS_STOP_S to answer (a slow answer is data); then they are given up, each
# recorded as unanswered.
_in_flight = Group()
ARRIVALS_STOP_S = 2.0
TIMER_SLACK_NS = 1_200_000  # how early a timer is set, then made up by yielding
MAX_PHASE_S = 1.0  # a closed-loop user's random start, at most
# Runner states in which the load is over: nothing more is sent. (A user that Locust's
# stop kills just as it wakes up would otherwise send one request and die waiting.)
LOAD_OVER = (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED)


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
    """Wait a little for the open-loop requests still in flight, then give them up; each
    records its row as it dies (`BenchUser.send`), before the recorder's last flush."""
    _in_flight.join(timeout=ARRIVALS_STOP_S)
    _in_flight.kill(block=True, timeout=ARRIVALS_STOP_S)


class GivenUp(Exception):
    """A request its user stopped waiting for: past its deadline, or still unanswered when
    the load stopped. Locust counts it a failure; its row's `error` says which."""


class _PastDeadline(Exception):
    """What a request's deadline raises into it: no Timeout, so no client code below
    takes it for one of its own to retry or to swallow."""


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
    # A 3xx is an answer like any other: recorded with its status, a failure, and nothing
    # is sent to its Location (the suite sends traffic to its targets and nowhere else).
    # geventhttpclient follows none with 0; Locust's `allow_redirects=False` would instead
    # swap the client's redirect codes for the duration of one request, a race between
    # the overlapping requests of an open-loop user.
    max_redirects = 0

    mix: ClassVar[OpMix] = OpMix(read=95, write=5)
    read_keys: ClassVar[str] = "zipfian"
    write_keys: ClassVar[str] = "zipfian"
    key_space: ClassVar[int | None] = None

    def __init__(self, environment: Environment) -> None:
        config = self.config = workload_config()
        if self.host is None and config.targets:
            # Locust wants a host; every request uses an absolute URL to a target anyway.
            self.host = config.targets[0]
        # each socket wait is bounded too; the request's deadline is `send`'s
        self.network_timeout = self.connection_timeout = config.request_timeout_s
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
        key = self.read_chooser.next_key()
        self.send("GET", "read", str(key), f"/products/{key}", intended_ns)

    def write_product(self, intended_ns: int | None) -> None:
        """PATCH /products/{id} with a new price or name; tells the choosers it was written."""
        key = self.write_chooser.next_key()
        if self.rng.random() < 0.5:
            body: dict[str, Any] = {"price": round(self.rng.uniform(1.0, 1000.0), 2)}
        else:
            body = {"name": f"product {key} rev {self.rng.getrandbits(32):08x}"}
        if self.send("PATCH", "write", str(key), f"/products/{key}", intended_ns, json=body):
            self.read_chooser.record_write(key)

    def read_category(self, intended_ns: int | None) -> None:
        """GET /categories/{c}/products for the category of a product drawn as for reads."""
        category = self.config.category_of(self.read_chooser.next_key())
        self.send("GET", "list", category, f"/categories/{category}/products", intended_ns)

    def send(
        self, method: str, op: str, key: str, path: str, intended_ns: int | None, **kwargs: Any
    ) -> bool:
        """Send one request to a random replica; True when it was answered 2xx with a body
        that reads (`scenarios.request_rows.answer_fields`).

        Every request sent leaves one row: answered (any status; a 3xx is not followed),
        failed (status 0 and the client's exception), past its deadline
        (BENCH_REQUEST_TIMEOUT_S from its send to the end of its body: `timeout`), or
        still in flight when the load stops and kills its greenlet (`unanswered`).
        """
        runner = self.environment.runner
        if runner is not None and runner.state in LOAD_OVER:
            return False
        target = self.target()
        url, name = f"{target}{path}", CATEGORY_NAME if op == "list" else PRODUCT_NAME
        context = request_context(op, key, intended_ns, target)
        sent_s, sent = time.time(), time.perf_counter()
        deadline = gevent.Timeout(self.config.request_timeout_s, _PastDeadline)
        deadline.start()
        try:
            with self.client.request(
                method, url, name=name, context=context, catch_response=True, **kwargs
            ) as response:
                deadline.cancel()  # answered whole: nothing below waits any more
                return _judge(response, op)
        except _PastDeadline:
            self.give_up(method, name, url, context, sent_s, sent, TIMEOUT)
        except GreenletExit:  # the load stopped with this request in flight
            self.give_up(method, name, url, context, sent_s, sent, UNANSWERED)
            raise
        finally:
            deadline.cancel()
        return False

    def give_up(
        self, method: str, name: str, url: str, context: dict[str, Any],
        sent_s: float, sent: float, why: str,
    ) -> None:  # fmt: skip
        """Report a request that has no answer as Locust reports one: a failure, sent at
        `sent_s`, given up now; the recorder writes it as status 0 with error `why`."""
        waited_ms = (time.perf_counter() - sent) * 1000
        self.environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=waited_ms,
            response_length=0,
            response=None,
            context={**context, "error": why},
            exception=GivenUp(f"{why} after {waited_ms / 1000:.1f} s"),
            start_time=sent_s,
            url=url,
        )


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


def _judge(response: Any, op: str) -> bool:
    """Mark in Locust what the recorder counts an error; True for a 2xx whose body reads.

    Status 0 (no answer) and a body cut off keep the client's own exception; any other
    non-2xx (a 3xx included) fails with its status; a 2xx body without the version or
    items the contract promises fails as unparseable. The reading goes to the recorder
    in the request's context, so a body is parsed once.
    """
    status = response.status_code
    if status == 0:
        return False
    if not 200 <= status < 300:
        response.failure(f"HTTP {status}")
        return False
    if response.request_meta["exception"] is not None:
        return False
    fields = answer_fields(op, response.content)
    response.request_meta["context"]["answer"] = fields
    if fields[2]:
        response.failure(f"{fields[2]} body")
        return False
    return True
