"""The compose runtime: the local runtime's experiment, on Docker Compose.

`bench.runtime.compose.plan` says what to run; this module checks that an engine is
there and runs the plan's steps the way a shell runs its printed lines, strategy by
strategy, through the skeleton every runtime shares. CI has no Docker engine: the unit
tests check compose.yaml, the plan and the no-engine error against a stand-in `docker`
that records its calls, and `make test-compose` runs it all for real on podman through a
`docker` shim (tests/compose/); Docker Engine itself has not run it in CI.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.faults.injector import Applied
from bench.faults.spec import Fault
from bench.layout import RunFolder
from bench.run_config import RunConfig
from bench.runtime.base import LoadResult, Replica, RunFailure, RuntimeUnavailable
from bench.runtime.compose.plan import (
    PROJECT,
    ROOT,
    Step,
    StrategyPlan,
    compose_plan,
    prologue,
    strategy_plan,
)
from bench.runtime.verify import VERIFY_FAILED, VerifyFailed
from services.strategies import STRATEGIES

DOCKER_TIMEOUT_S = 10  # `docker version` must not hang the CLI when the engine is wedged
REDIS_IMAGE = "redis:7-alpine"  # compose.yaml's redis, as run.json records it


class ComposeUnavailable(RuntimeUnavailable):
    """No Docker engine or no Compose v2; the message is one line saying which."""


class StepFailed(RunFailure):
    """A command of the plan exited non-zero; the message names it and its log."""


def check_engine() -> dict[str, str]:
    """The engine's and Compose's versions, or ComposeUnavailable with one line."""
    versions = {}
    for what, need, args in [
        ("engine", "a running Docker engine", "version --format {{.Server.Version}}"),
        ("compose", "Docker Compose v2", "compose version --short"),
    ]:
        try:
            done = subprocess.run(["docker", *args.split()], capture_output=True, text=True,
                                  timeout=DOCKER_TIMEOUT_S, stdin=subprocess.DEVNULL)  # fmt: skip
            said = [line.strip() for line in (done.stderr + done.stdout).splitlines()]
            answer = done.stdout.strip() if done.returncode == 0 else ""
        except FileNotFoundError:
            said, answer = ["no docker CLI on PATH"], ""
        except subprocess.TimeoutExpired:
            said, answer = [f"no answer within {DOCKER_TIMEOUT_S} s"], ""
        if not answer:
            last = [line for line in said if line][-1:] or ["failed"]
            command = f"docker {args.split()[0]}"
            raise ComposeUnavailable(f"--runtime compose needs {need}; {command}: {last[0]}")
        versions[what] = answer
    return versions


class Shell:
    """Runs plan steps the way a shell runs their rendered lines."""

    def __init__(self) -> None:
        self.cwd, self.env = ROOT, dict(os.environ)
        self.background: list[subprocess.Popen[bytes]] = []

    def run(self, step: Step) -> int:
        print(f"$ {step.render()}", file=sys.stderr, flush=True)
        head = step.argv[0]
        if head == "cd":
            self.cwd = Path(step.argv[1])
            return 0
        if head == "export":
            self.env.update(item.split("=", 1) for item in step.argv[1:])
            return 0
        if head == "wait":
            codes = [proc.wait() for proc in self.background]
            self.background.clear()
            return max(codes, default=0)
        out = (self.cwd / step.log).open("wb") if step.log is not None else None
        with out or contextlib.nullcontext():  # the child keeps its own descriptor
            proc = subprocess.Popen(step.argv, cwd=self.cwd, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT if out else None,
                                    stdin=subprocess.DEVNULL)  # fmt: skip
        if step.background:
            self.background.append(proc)
            return 0
        code = proc.wait()
        if code and step.check and not (step.verifies and code == VERIFY_FAILED):
            where = f"; see {step.log}" if step.log is not None else ""
            raise StepFailed(f"`{shlex.join(step.argv[:5])} ...` exited with {code}{where}")
        return code


@dataclass
class ComposeDeployment:
    """One strategy's containers, up and healthy; its plan holds the remaining steps."""

    shell: Shell
    part: StrategyPlan

    @property
    def measured_despite_verify(self) -> bool:
        """Against a read replica that lags, a strategy that fails verify is measured all
        the same, as locally: that failure is what the run is for."""
        return self.part.lagging

    @property
    def replicas(self) -> list[Replica]:
        return [Replica(name, url) for name, url in self.part.replicas]

    def verify(self) -> None:
        step = self.part.steps[self.part.verify_index]
        if self.shell.run(step) == VERIFY_FAILED:  # any other failure raised StepFailed
            said = (self.shell.cwd / step.log).read_text().strip() if step.log else ""
            raise VerifyFailed(said.splitlines()[-1] if said else "failed verification")

    def run_load(self, faults: Sequence[Fault]) -> LoadResult:
        """The plan's load, probe and fault steps; then what the faults' logs say."""
        later = self.part.steps[self.part.verify_index + 1 :]
        for step in later:
            self.shell.run(step)
        logs = iter(step.log for step in later if step.why.startswith("fault "))
        applied = []
        for fault in faults:
            record = Applied(self.part.strategy, fault.kind, fault.arg, fault.at_s, fault.for_s)
            if not fault.kind_of.applies(STRATEGIES[self.part.strategy]):
                record.status = "not applicable"
            else:
                log = next(logs)
                read_fault_log(record, (self.shell.cwd / log).read_text() if log else "")
            applied.append(record)
        return LoadResult(0, faults=applied)  # the lead's non-zero exit raised StepFailed


def read_fault_log(record: Applied, text: str) -> None:
    """Fill `record` from a fault step's log: `start NS`, `started`, `end NS`, `ended`."""
    words = text.split()
    stamps = {word: int(words[i + 1]) for i, word in enumerate(words[:-1])
              if word in ("start", "end") and words[i + 1].isdigit()}  # fmt: skip
    record.started_ns, record.ended_ns = stamps.get("start"), stamps.get("end")
    lasting = record.for_s is not None
    if record.started_ns is None:
        record.status = "not reached: the load ended first"
    elif "started" not in words:
        record.status = "failed: its start command exited non-zero (see its log)"
    elif lasting and "ended" not in words:
        record.status = "failed: its end command exited non-zero (see its log)"
    else:
        record.status = "applied"
        record.ended_ns = record.ended_ns if lasting else record.started_ns


@contextmanager
def deployment(shell: Shell, part: StrategyPlan) -> Iterator[ComposeDeployment]:
    """Run the steps up to verify; on leaving, the teardown, whatever happened."""
    try:
        for step in part.steps[: part.verify_index]:
            shell.run(step)
        yield ComposeDeployment(shell, part)
    finally:
        for step in part.teardown:
            shell.run(step)


class ComposeRuntime:
    name = "compose"

    def __init__(self) -> None:
        self.versions: dict[str, str] = {}
        self._shell: Shell | None = None

    def check(self, config: RunConfig | None = None) -> None:
        self.versions = check_engine()

    def facts(self) -> dict[str, Any]:
        return {"compose": {"project": PROJECT, **self.versions}, "redis_server": REDIS_IMAGE}

    @contextmanager
    def session(self, config: RunConfig, run: RunFolder) -> Iterator[None]:
        """The plan's prologue: build the image, clear what an earlier run left."""
        shell = Shell()
        for step in prologue(config, run.path, os.getuid(), os.getgid()):
            shell.run(step)
        self._shell = shell
        try:
            yield
        finally:
            self._shell = None

    def deploy(
        self, config: RunConfig, strategy: str, run: RunFolder
    ) -> contextlib.AbstractContextManager[ComposeDeployment]:
        assert self._shell is not None, "deploy() inside session()"
        return deployment(self._shell, strategy_plan(config, strategy, run.path))

    def plan(self, config: RunConfig, run: RunFolder) -> list[str]:
        return compose_plan(config, run.path, os.getuid(), os.getgid()).lines()
