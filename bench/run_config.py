"""What one `bench run` measures: the experiment's parameters, checked before anything starts."""

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.faults.kinds import CONTROLLED
from bench.faults.link_delay import (
    LinkDelay,
    LinkDelaySpecError,
    link_delay_spec,
    parse_link_delay,
)
from bench.faults.spec import Fault, FaultSpecError, check_faults
from bench.targets import BadTarget, parse_targets
from scenarios.workload_config import ARRIVALS, REQUEST_TIMEOUT_S
from services.strategies import GUIDE_STRATEGIES, STRATEGIES, STRATEGY_NAMES, OptionValue

SCENARIOS = ("read_mostly", "update_heavy", "read_latest", "lists", "race", "stampede",
             "replica_lag")  # fmt: skip
RUNTIMES = ("local", "compose", "external")  # bench.runtime.runtime_for makes them
# An external service's label stands where a strategy name stands, also in file names.
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
# A paced load this 2-core machine sustains with room to spare for 3 replicas, Locust and
# Redis: staleness measured on a saturated server measures queueing, not invalidation.
DEFAULT_RATE = 300.0
# The `race` scenario models a costly query; without it there is no window to race in.
# `stampede`'s herd forms while the refill's query runs: the slower, the bigger.
SCENARIO_ORIGIN_DELAY_MS = {"race": 20.0, "stampede": 50.0}
# `replica_lag` needs an origin whose reads lag its writes: the suite's own PostgreSQL
# primary with a streaming replica this many ms behind.
SCENARIO_ORIGIN = {"replica_lag": ("postgres", 200.0)}
ORIGINS = ("sqlite", "postgres")
# `stampede` needs hot keys to expire often, under load, for its herds to be counted.
SCENARIO_TTL_S = {"stampede": 2.0}
DEFAULT_TTL_S = 30.0
# The latency percentiles the report's latency table and tail plot show (`--percentiles`;
# computed exactly by `bench.analysis.percentiles`).
DEFAULT_PERCENTILES: tuple[float, ...] = (50.0, 99.0, 99.9)


def scenario_ttl_s(scenario: str) -> float:
    """The TTL a run of `scenario` gets unless `--ttl` says otherwise."""
    return SCENARIO_TTL_S.get(scenario, DEFAULT_TTL_S)


class ConfigError(ValueError):
    """A parameter is out of range; the message is one line naming it."""


def checked_percentiles(values: Iterable[float]) -> tuple[float, ...]:
    """`values` sorted, each once; ConfigError if one is outside (0, 100] or none is given."""
    values = tuple(values)
    if not values:
        raise ConfigError("--percentiles: none given")
    for value in values:
        if not 0 < value <= 100:  # nan fails this too
            raise ConfigError(f"--percentiles: each must be in (0, 100], got {value:g}")
    return tuple(sorted(set(values)))


def parse_percentiles(text: str) -> tuple[float, ...]:
    """`50,95,99.9` -> (50.0, 95.0, 99.9); ConfigError on anything else."""
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ConfigError(f"--percentiles: comma-separated numbers in (0, 100],"
                          f" got {text!r}") from None  # fmt: skip
    return checked_percentiles(values)


@dataclass(frozen=True)
class RunConfig:
    strategies: tuple[str, ...] = GUIDE_STRATEGIES
    replicas: int = 3
    scenario: str = "read_mostly"
    duration_s: float = 60.0
    ttl_s: float = DEFAULT_TTL_S
    users: int = 20
    rate: float | None = DEFAULT_RATE  # total requests/s; None = as fast as possible
    origin_delay_ms: float | None = None  # None = the scenario's default
    # the origin: embedded SQLite, or the suite's own PostgreSQL primary (None = the
    # scenario's default, else sqlite); with a lag, reads go to a replica that far behind
    origin: str | None = None
    origin_lag_ms: float | None = None
    products: int = 1000
    categories: int = 10
    seed: int = 1
    locust_workers: int = 0
    # HOST:PORT where the master listens for `locust_workers` workers started elsewhere (on
    # other machines): the harness starts none of its own, and their rows come to it
    locust_master: str | None = None
    poll_ms: float = 2.0
    runtime: str = "local"
    results: Path = field(default=Path("results"))
    faults: tuple[Fault, ...] = ()  # applied to every strategy, at times from its load's start
    # the strategies' own options that were given, by `strategy.option` (e.g. `xfetch.beta`);
    # every other declared option keeps its default
    options: dict[str, OptionValue] = field(default_factory=dict)
    arrivals: str = "closed"  # or "open": Poisson arrivals at `rate` (BENCH_ARRIVALS)
    # a request's deadline, send to last byte; past it, it is recorded as a timeout
    request_timeout_s: float = REQUEST_TIMEOUT_S
    # --runtime external: the user's replicas, and the probe-only ids no load touches
    # (the last is the first write's, the others the probe's); the label is `strategies`.
    targets: tuple[str, ...] = ()
    probe_ids: tuple[int, ...] = ()
    # --link-delay: the proxy holds each answer on the replicas' links to Redis / the origin
    link_delay: tuple[LinkDelay, ...] = ()
    # --percentiles: what the report's latency table and tail plot show, in (0, 100]
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES

    @property
    def external(self) -> bool:
        return self.runtime == "external"

    def option_values(self, strategy: str) -> dict[str, OptionValue]:
        """Every option `strategy` declares: as given, else its default (None: unset)."""
        given = {k.partition(".")[2]: v for k, v in self.options.items()
                 if k.partition(".")[0] == strategy}  # fmt: skip
        return STRATEGIES[strategy].option_values(given)

    def option_env(self, strategy: str) -> dict[str, str]:
        """The environment that passes `strategy`'s options to its replicas: every one it
        declares, an unset one as empty (the replica then takes its default), so that no
        value exported for an earlier strategy or cell lingers."""
        values = self.option_values(strategy)
        return {o.env: "" if values[o.name] is None else o.env_text(values[o.name])
                for o in STRATEGIES[strategy].options}  # fmt: skip

    @property
    def fault_control(self) -> bool:
        """Whether the replicas need FAULT_CONTROL=1 for a scheduled fault."""
        return any(f.kind in CONTROLLED for f in self.faults)

    def __post_init__(self) -> None:
        if self.external:
            self._check_external()
        elif self.targets or self.probe_ids:
            raise ConfigError("--targets and --probe-ids are for --runtime external")
        unknown = [s for s in self.strategies if s not in STRATEGY_NAMES]
        if not self.external and (unknown or not self.strategies):
            raise ConfigError(
                f"--strategies: unknown {','.join(unknown) or '(none given)'};"
                f" choose from {','.join(STRATEGY_NAMES)}"
            )
        if len(set(self.strategies)) != len(self.strategies):
            raise ConfigError("--strategies: a strategy is listed twice")
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"--scenario {self.scenario!r}: choose from {', '.join(SCENARIOS)}")
        if self.arrivals not in ARRIVALS:
            raise ConfigError(f"--arrivals {self.arrivals!r}: choose from {', '.join(ARRIVALS)}")
        if self.arrivals == "open" and self.rate is None:
            raise ConfigError("--arrivals open needs a --rate to schedule at, not 'max'")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"--runtime {self.runtime!r}: choose from {', '.join(RUNTIMES)}")
        for name, number in [
            ("--duration", self.duration_s),
            ("--ttl", self.ttl_s),
            ("--rate", self.rate),
            ("--origin-delay-ms", self.origin_delay_ms),
            ("--origin-lag-ms", self.origin_lag_ms),
            ("--poll-ms", self.poll_ms),
            ("--request-timeout-s", self.request_timeout_s),
        ]:  # nan slips past every comparison below, and inf would never end a run
            if number is not None and not math.isfinite(number):
                raise ConfigError(f"{name} must be a finite number, got {number}")
        for name, value, low in [
            ("--replicas", self.replicas, 1),
            ("--duration", self.duration_s, 1),
            ("--ttl", self.ttl_s, 0.001),
            ("--users", self.users, 1),
            ("--products", self.products, 1),
            ("--categories", self.categories, 1),
            ("--locust-workers", self.locust_workers, 0),
        ]:
            if value < low:
                raise ConfigError(f"{name} must be at least {low}, got {value}")
        if self.poll_ms <= 0:
            raise ConfigError(f"--poll-ms must be positive, got {self.poll_ms}")
        if self.locust_master is not None:
            self.master_address()
        if self.request_timeout_s <= 0:
            raise ConfigError(f"--request-timeout-s must be positive, got {self.request_timeout_s}")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError(f"--rate must be positive or 'max', got {self.rate}")
        if self.origin_delay_ms is not None and self.origin_delay_ms < 0:
            raise ConfigError(f"--origin-delay-ms must be >= 0, got {self.origin_delay_ms}")
        self._check_origin()
        self._check_link_delay()
        if self.categories > self.products:
            raise ConfigError("--categories cannot exceed --products")
        try:
            check_faults(self.faults, self.replicas, self.duration_s)
        except FaultSpecError as exc:
            raise ConfigError(str(exc)) from None
        self._check_options()
        checked_percentiles(self.percentiles)

    def _check_origin(self) -> None:
        if self.origin is not None and self.origin not in ORIGINS:
            raise ConfigError(f"--origin {self.origin!r}: choose from {', '.join(ORIGINS)}")
        if self.origin_lag_ms is not None and self.origin_lag_ms <= 0:
            raise ConfigError(f"--origin-lag-ms must be positive, got {self.origin_lag_ms}")
        if (self.origin or self.origin_lag_ms) and self.external:
            raise ConfigError("--origin and --origin-lag-ms: the origin of a service the suite"
                              " did not start is the service's own")  # fmt: skip
        if self.effective_origin_lag_ms and self.effective_origin != "postgres":
            raise ConfigError("--origin-lag-ms needs --origin postgres: the sqlite origin has"
                              " no read replica")  # fmt: skip
        if self.runtime == "compose" and self.origin == "sqlite":
            raise ConfigError("--origin sqlite: the compose runtime's origin is PostgreSQL")

    def _check_link_delay(self) -> None:
        if not self.link_delay:
            return
        try:  # as `--link-delay` checks it: a config made in code meets the same test
            parse_link_delay(link_delay_spec(self.link_delay))
        except LinkDelaySpecError as exc:
            raise ConfigError(str(exc)) from None
        if self.runtime != "local":
            raise ConfigError(f"--link-delay: only the local runtime puts the suite's proxy on"
                              f" the links, not --runtime {self.runtime}")  # fmt: skip
        origin = self.link("origin")
        if origin is not None and self.effective_origin == "sqlite":
            raise ConfigError(f"--link-delay {origin.spec}: the sqlite origin has no link;"
                              " use --origin postgres")  # fmt: skip

    def link(self, name: str) -> LinkDelay | None:
        """The delay on the replicas' links to `name` (redis, origin), None if none."""
        return next((delay for delay in self.link_delay if delay.link == name), None)

    @property
    def effective_origin(self) -> str:
        """The origin this run uses: as given, else the scenario's, else sqlite; always
        PostgreSQL on compose."""
        if self.origin is not None:
            return self.origin
        if self.runtime == "compose":
            return "postgres"
        return SCENARIO_ORIGIN.get(self.scenario, ("sqlite", None))[0] or "sqlite"

    @property
    def effective_origin_lag_ms(self) -> float | None:
        """The read replica's lag (ms), None for no read replica."""
        if self.origin_lag_ms is not None:
            return self.origin_lag_ms
        if self.origin in (None, "postgres") and self.runtime in ("local", "compose"):
            return SCENARIO_ORIGIN.get(self.scenario, (None, None))[1]
        return None

    def _check_options(self) -> None:
        """Each given option is one a strategy declares, with a value it takes."""
        for key, value in self.options.items():
            strategy, _, name = key.partition(".")
            try:
                option = STRATEGIES[strategy].option(name)
            except KeyError:
                raise ConfigError(f"{key}: no strategy declares that option") from None
            if self.external:
                raise ConfigError(f"{option.flag(strategy)}: options are for the suite's own"
                                  " strategies, not a service it did not start")  # fmt: skip
            try:
                option.parse(value)
            except ValueError as exc:
                raise ConfigError(f"{option.flag(strategy)} {exc}") from None

    def _check_external(self) -> None:
        """The user's service: the suite starts, seeds and breaks nothing of it."""
        if len(self.strategies) != 1 or not LABEL.fullmatch(self.strategies[0]):
            raise ConfigError("--label: a name for the service, 1-40 letters, digits, '_', '.'"
                              " or '-', starting with a letter or digit")  # fmt: skip
        if self.strategies[0] in STRATEGY_NAMES:
            raise ConfigError(f"--label {self.strategies[0]}: that names one of the suite's"
                              " strategies; choose a name for your service")  # fmt: skip
        if not self.targets:
            raise ConfigError("--runtime external needs --targets URL[,URL...]")
        try:  # as `--targets` checks them: a config made in code meets the same test
            parse_targets(",".join(self.targets))
        except BadTarget as exc:
            raise ConfigError(f"--targets: {exc}") from None
        if len(self.targets) != self.replicas:
            raise ConfigError("--replicas is the number of --targets with --runtime external")
        if self.faults:
            raise ConfigError("--fault: the suite injects no fault into a service it did not"
                              " start (--runtime external)")  # fmt: skip
        if len(self.probe_ids) < 2:
            raise ConfigError("--probe-ids FIRST-LAST: at least two ids, the probe's and one"
                              " for the first write")  # fmt: skip
        inside = [i for i in self.probe_ids if 1 <= i <= self.products]
        if inside:
            raise ConfigError(f"--probe-ids: {inside[0]} is a load product (1..{self.products});"
                              " probe ids must be ones no load touches")  # fmt: skip

    @property
    def effective_origin_delay_ms(self) -> float:
        if self.origin_delay_ms is not None:
            return self.origin_delay_ms
        return SCENARIO_ORIGIN_DELAY_MS.get(self.scenario, 0.0)

    @property
    def load_s(self) -> int:
        """How long Locust sends requests: its --run-time, the whole seconds of --duration.
        A strategy's rates are its requests over this (run.json records it as `load_s`)."""
        return int(self.duration_s)

    @property
    def user_rate(self) -> float | None:
        """Requests/s per Locust user, so that all users together send `rate`."""
        return None if self.rate is None else self.rate / self.users

    def master_address(self) -> tuple[str, int]:
        """`--locust-master HOST:PORT` parsed; a ConfigError names what is wrong with it."""
        text = self.locust_master or ""
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(f"--locust-master is HOST:PORT with a port 1-65535, got {text!r}")
        if self.locust_workers < 1:
            raise ConfigError("--locust-master needs --locust-workers K: the workers to wait for")
        if self.runtime == "compose":
            raise ConfigError("--locust-master: the compose runtime runs its own master")
        return host, int(port)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["results"] = str(self.results)
        data["strategies"] = list(self.strategies)
        data["origin_delay_ms"] = self.effective_origin_delay_ms
        data["origin"] = None if self.external else self.effective_origin
        data["origin_lag_ms"] = self.effective_origin_lag_ms
        data["faults"] = [fault.spec for fault in self.faults]
        data["percentiles"] = list(checked_percentiles(self.percentiles))
        data["link_delay"] = link_delay_spec(self.link_delay) or None
        data["options"] = {s: self.option_values(s) for s in self.strategies
                           if s in STRATEGIES and STRATEGIES[s].options}  # fmt: skip
        del data["targets"], data["probe_ids"]
        if self.external:  # the origin and its delay are the service's own, unknown here
            data.update(targets=list(self.targets), origin_delay_ms=None,
                        probe_ids=f"{self.probe_ids[0]}-{self.probe_ids[-1]}")  # fmt: skip
        return data
