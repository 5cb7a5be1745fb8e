"""Before a strategy is measured, check that it does what it claims (as TechEmpower does).

On a probe-only product: every replica answers, a write through the first one
bumps the version by exactly one, and, for a strategy that invalidates on
write, every replica serves the new version within a short bounded wait. A
strategy that fails is reported as failed, not measured.
"""

import json
import urllib.request
from typing import Any

from bench.processes import StartupTimeout, wait_until
from bench.replicas import Replica
from services.strategies import STRATEGIES

PROPAGATION_TIMEOUT_S = 2.0
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class VerifyFailed(Exception):
    """The strategy broke its promise; the message says how."""


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    with _opener.open(request, timeout=5) as response:
        return json.load(response)


def verify(strategy: str, replicas: list[Replica], product_id: int) -> None:
    path = f"/products/{product_id}"
    before = [_request("GET", r.url + path)["version"] for r in replicas]
    if len(set(before)) != 1:
        raise VerifyFailed(f"replicas disagree before any write: versions {before}")
    written = _request("PATCH", replicas[0].url + path, {"name": "verify"})["version"]
    if written != before[0] + 1:
        raise VerifyFailed(f"a write moved version {before[0]} to {written}, not by one")
    if not STRATEGIES[strategy].invalidates_on_write:
        return
    for replica in replicas:
        try:
            wait_until(
                lambda url=replica.url + path: _request("GET", url)["version"] >= written,
                PROPAGATION_TIMEOUT_S,
                what=f"{replica.name} to serve version {written}",
                poll_interval_s=0.01,
            )
        except StartupTimeout as exc:
            raise VerifyFailed(str(exc)) from None
