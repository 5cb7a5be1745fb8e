"""The runtimes: what starts, verifies, loads and stops the system under test.

Each implements `base.Runtime` (start a strategy's parts, give the replica URLs, run the
load and the probe, stop), so `bench run` and `bench sweep` drive them through one
skeleton (`bench.experiment`):

- `local/`: processes on this machine (its `redis_server`, `replicas`, `scraper` and the
  `faults` it applies)
- `compose/`: the same on Docker Compose (`plan` is its commands as data)
- `external`: a service the user runs; nothing started but Locust and the probe

and what they share, here at the top: `base` (the interfaces), `commands` (the Locust,
probe and verify command lines), `load` (Locust on this machine), `verify` (does a
strategy do what it claims), `seed` (the catalogue), `processes`, `signals`, `ports`,
`waiting`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.run_config import RUNTIMES

if TYPE_CHECKING:
    from bench.runtime.base import Runtime


def runtime_for(name: str) -> Runtime:
    """The runtime `--runtime NAME` asks for, imported only when asked."""
    if name == "compose":
        from bench.runtime.compose import ComposeRuntime

        return ComposeRuntime()
    if name == "external":
        from bench.runtime.external import ExternalRuntime

        return ExternalRuntime()
    if name == "local":
        from bench.runtime.local import LocalRuntime

        return LocalRuntime()
    raise ValueError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}")
