"""What a runtime does for the experiment, so `bench run` and `bench sweep` share one skeleton.

`bench.experiment` reads as the experiment it runs: per strategy, deploy (a clean Redis,
a freshly seeded origin, N replicas), verify, the load with the probe beside it, stop.
A runtime says how on its platform (processes on this machine, containers through
`docker compose`); the skeleton never asks which one it has. Every runtime stops what it
started when its context is left, also on failure and Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bench.faults.injector import Applied
    from bench.faults.spec import Fault
    from bench.layout import RunFolder
    from bench.run_config import RunConfig


class RuntimeUnavailable(Exception):
    """The runtime cannot run here (no redis-server, no Docker engine): one line, exit 2,
    raised before any run folder exists."""


class RunFailure(RuntimeError):
    """A part of the run failed (a process died, a command exited non-zero): the run ends
    `failed` with this message as its reason."""


@dataclass(frozen=True)
class Replica:
    """One replica as the load, the probe and verify reach it."""

    name: str
    url: str
    pid: int | None = None  # the local runtime's gunicorn master; a container has none

    def record(self) -> dict[str, Any]:
        """The replica as run.json lists it."""
        fields = {"name": self.name, "url": self.url}
        return fields if self.pid is None else {**fields, "pid": self.pid}


@dataclass(frozen=True)
class LoadResult:
    exit_code: int | None  # the lead Locust process's
    failures: int | None = None  # Locust's own failure count, where the runtime can read it
    faults: list[Applied] = field(default_factory=list)  # what each scheduled fault did
    requests: int | None = None  # Locust's own request count, where the runtime can read it


class Deployment(Protocol):
    """One strategy's parts, started and ready."""

    replicas: Sequence[Replica]
    # False: a strategy that fails verification is not measured. True (a service the
    # suite did not start): its failure is a finding, recorded, and the load still runs.
    measured_despite_verify: bool

    def verify(self) -> None:
        """Raise `bench.runtime.verify.VerifyFailed` when the strategy breaks its promise."""
        ...

    def run_load(self, faults: Sequence[Fault]) -> LoadResult:
        """The Locust load with the probe beside it, until the load's run time is up, and
        the faults applied at their times (seconds from the load's start)."""
        ...


class Runtime(Protocol):
    name: str  # as `--runtime` names it

    def check(self, config: RunConfig | None = None) -> None:
        """Raise RuntimeUnavailable when this runtime cannot run here (`config` given: this
        run, whose parts, such as its origin, may need more of the machine)."""
        ...

    def facts(self) -> dict[str, Any]:
        """What run.json records about the platform (server versions); after `check`."""
        ...

    def session(self, config: RunConfig, run: RunFolder) -> AbstractContextManager[None]:
        """One run's lifetime: inside it Ctrl-C raises KeyboardInterrupt, and on leaving
        it nothing the runtime started is left running."""
        ...

    def deploy(
        self, config: RunConfig, strategy: str, run: RunFolder
    ) -> AbstractContextManager[Deployment]:
        """Start one strategy's parts; on leaving, stop them, however it is left."""
        ...

    def plan(self, config: RunConfig, run: RunFolder) -> list[str]:
        """`--dry-run`: every command the run would execute, in order; runs nothing.
        Raises ConfigError where the runtime has no commands to show."""
        ...
