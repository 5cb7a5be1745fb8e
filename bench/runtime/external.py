"""The external runtime: the same load, probe and checker, pointed at a service the user runs.

The suite starts no service, seeds nothing and injects no fault; it sends traffic to the
`--targets` and nowhere else. Before anything is measured the contract is checked
(`bench.contract`); its write is the run's first and doubles as verification, so a
service that fails the freshness check is still measured, with `failed_verify` and the
reason on record. What the suite does start, Locust and the probe, a `Supervisor` stops.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.contract import CONTRACT_VERSION, Catalogue, Findings, check_contract
from bench.faults.spec import Fault
from bench.layout import RunFolder
from bench.run_config import ConfigError, RunConfig
from bench.runtime.base import LoadResult, Replica, RunFailure
from bench.runtime.commands import probe_options
from bench.runtime.load import start_load, watch_load
from bench.runtime.processes import Supervisor
from bench.runtime.verify import VerifyFailed


class ContractBroken(RunFailure):
    """The service does not keep the contract; the findings say which rule."""

    def __init__(self, findings: Findings) -> None:
        super().__init__(
            "the service does not meet the contract: "
            + "; ".join(c.line() for c in findings.broken)
        )
        self.findings = findings


def catalogue(config: RunConfig) -> Catalogue:
    return Catalogue(config.products, config.categories, config.probe_ids)


@dataclass
class ExternalDeployment:
    """The user's replicas, as the contract check found them."""

    supervisor: Supervisor
    config: RunConfig
    label: str
    run: RunFolder
    findings: Findings
    measured_despite_verify = True  # the freshness check is a finding about their service

    @property
    def replicas(self) -> list[Replica]:
        return [Replica(target.name, target.url) for target in self.findings.replicas]

    def verify(self) -> None:
        """The contract check's write was the first; its freshness findings are the verdict."""
        if self.findings.stale:
            raise VerifyFailed("; ".join(f"{c.rule}: {c.detail}" for c in self.findings.stale))

    def run_load(self, faults: Sequence[Fault]) -> LoadResult:
        urls = [r.url for r in self.replicas]
        load = start_load(self.supervisor, self.config, self.label, urls, self.run)
        out = str(self.run.probe_file(self.label))
        probe_ids = self.config.probe_ids[:-1]
        argv = [
            sys.executable,
            "-m",
            "bench.probe",
            *probe_options(self.config, self.label, self.replicas, probe_ids, out),
        ]
        probe = self.supervisor.start("probe", argv, self.run.logs(self.label) / "probe.log")
        probe.exit_expected = True
        requests, failures = watch_load(self.supervisor, self.config, self.label, load)
        self.supervisor.stop(probe)
        return LoadResult(load.lead.returncode, failures, requests=requests)


class ExternalRuntime:
    name = "external"

    def __init__(self) -> None:
        self._supervisor: Supervisor | None = None
        self.findings: Findings | None = None

    def check(self, config: RunConfig | None = None) -> None:
        """Nothing to find on this machine: the service is the user's."""

    def facts(self) -> dict[str, Any]:
        return {"external": {"contract_version": CONTRACT_VERSION}}

    @contextmanager
    def session(self, config: RunConfig, run: RunFolder) -> Iterator[None]:
        with Supervisor() as supervisor:
            self._supervisor = supervisor
            try:
                yield
            finally:
                self._supervisor = None

    @contextmanager
    def deploy(self, config: RunConfig, label: str, run: RunFolder) -> Iterator[ExternalDeployment]:
        """Deploys nothing: checks the contract (its write is the run's first) and records it."""
        supervisor = self._supervisor
        assert supervisor is not None, "deploy() inside session()"
        findings = check_contract(config.targets, catalogue(config))
        contract = run.logs(label) / "contract.txt"
        contract.parent.mkdir(parents=True, exist_ok=True)
        contract.write_text("\n".join(findings.lines()) + "\n", encoding="utf-8")
        if not findings.holds:
            raise ContractBroken(findings)
        try:
            yield ExternalDeployment(supervisor, config, label, run, findings)
        finally:  # Locust and the probe, never the service
            supervisor.stop(*supervisor.children)

    def plan(self, config: RunConfig, run: RunFolder) -> list[str]:
        raise ConfigError("--dry-run prints the commands of --runtime compose; external has none")
