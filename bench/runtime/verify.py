"""Before a strategy is measured, check that it does what it claims (as TechEmpower does).

On a probe-only product: every replica answers, a write through the first one
bumps the version by exactly one, and, for a strategy that invalidates on
write, every replica serves the new version within a short bounded wait. A
strategy that fails is reported as failed, not measured. One that serves stale by
design (`swr`) is held to the same write promise: what it answers stale is old by
its clock, never a value a write replaced (`claim` says so in the run's record).

Each request is bounded in total time and follows no redirect; an answer that is no 200
with a top-level integer `version` (read by `scenarios.bodies`, as the recorder reads it)
fails verification with what came instead, never with a traceback.
"""

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.bounded_http import NoAnswer, request
from bench.runtime.base import Replica
from bench.runtime.waiting import StartupTimeout, wait_until
from bench.targets import BadTarget, parse_targets
from scenarios.bodies import parse, version_in
from services.strategies import STRATEGIES

PROPAGATION_TIMEOUT_S = 2.0
UNAVAILABLE_S = 60.0  # how long a replica may go unanswered, or answer 503, before verify fails
REQUEST_TIMEOUT_S = 5.0  # one request, start to last byte
VERIFY_FAILED = 3  # `python -m bench.runtime.verify`'s exit code: the strategy broke its promise


class VerifyFailed(Exception):
    """The strategy broke its promise; the message says how."""


class Unavailable(VerifyFailed):
    """No answer, or a 503 (the app's "origin unreachable, retry later"): the replica could
    not serve just then, which says nothing yet of what it promises."""


def _version(method: str, url: str, body: dict[str, Any] | None = None) -> int:
    """The version `method url` answers with; VerifyFailed saying what came instead."""
    try:
        reply = request(method, url, body, timeout_s=REQUEST_TIMEOUT_S)
    except NoAnswer as exc:
        raise Unavailable(f"{method} {url}: no answer ({exc})") from None
    except ValueError as exc:
        raise VerifyFailed(f"{method} {url}: no answer ({exc})") from None
    if reply.redirect:
        raise VerifyFailed(f"{method} {url}: {reply.redirected()}; verify follows no redirect")
    if reply.status == 503:
        raise Unavailable(f"{method} {url}: HTTP 503, not 200")
    if reply.status != 200:
        raise VerifyFailed(f"{method} {url}: HTTP {reply.status}, not 200")
    document = parse(reply.body)
    version = version_in(document)
    if version is None:
        why = "does not parse as JSON" if document is None else "has no top-level integer version"
        raise VerifyFailed(f"{method} {url}: HTTP 200, but the body {why} ({reply.preview()})")
    return version


def _first_version(url: str, unavailable_s: float) -> int:
    """The version a replica first answers with, asked again while it is unavailable, for up
    to `unavailable_s`. On podman here DNS lookups between containers stalled for seconds
    at a time, and a replica's new connections to Redis and PostgreSQL with them: the load
    measures that as errors, and verify must not refuse a strategy's promise for it."""
    deadline = time.monotonic() + unavailable_s
    while True:
        try:
            return _version("GET", url)
        except Unavailable:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.2)


def _write(url: str, before: int, unavailable_s: float) -> int:
    """The version a write through `url` made. A write left unanswered, or answered 503,
    may or may not have been made: the replica is asked what it serves now, and the write
    sent again only when the version has not moved, for up to `unavailable_s`."""
    deadline = time.monotonic() + unavailable_s
    while True:
        try:
            return _version("PATCH", url, {"name": "verify"})
        except Unavailable:
            if time.monotonic() >= deadline:
                raise
        now = _first_version(url, max(0.0, deadline - time.monotonic()))
        if now != before:
            return now


def claim(strategy: str) -> str:
    """What `verify` holds the strategy to, in words, from its registry declaration: the
    run records it beside the strategy, so a reader of the figures knows the promise."""
    spec = STRATEGIES.get(strategy)
    if spec is None:  # a service the suite did not start, checked by `bench.contract`
        return ("the contract of docs/contract.md, whose write was then checked visible on"
                f" the next read and on every replica within {PROPAGATION_TIMEOUT_S:g} s"
                " (a finding, not a requirement)")  # fmt: skip
    said = ("a write moves the version by one; every replica serves it within"
            f" {PROPAGATION_TIMEOUT_S:g} s" if spec.invalidates_on_write
            else "a write moves the version by one; other replicas may serve the old one until"
            " the TTL")  # fmt: skip
    if spec.stale_by_design:
        said += "; past its TTL it may answer the old value at once, marked X-Cache: stale"
    return said


def verify(
    strategy: str,
    replicas: Sequence[Replica],
    product_id: int,
    unavailable_s: float = UNAVAILABLE_S,
) -> None:
    path = f"/products/{product_id}"
    before = [_first_version(r.url + path, unavailable_s) for r in replicas]
    if len(set(before)) != 1:
        raise VerifyFailed(f"replicas disagree before any write: versions {before}")
    written = _write(replicas[0].url + path, before[0], unavailable_s)
    if written != before[0] + 1:
        raise VerifyFailed(f"a write moved version {before[0]} to {written}, not by one")
    if not STRATEGIES[strategy].invalidates_on_write:  # declared in the registry
        return
    for replica in replicas:
        try:
            wait_until(
                lambda url=replica.url + path: _version("GET", url) >= written,
                PROPAGATION_TIMEOUT_S,
                what=f"{replica.name} to serve version {written}",
                poll_interval_s=0.01,
            )
        except StartupTimeout as exc:
            raise VerifyFailed(str(exc)) from None


def target_list(text: str) -> tuple[str, ...]:
    try:
        return parse_targets(text)
    except BadTarget as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.runtime.verify`: the same check on replicas given by URL (the compose
    runtime runs it in a container, on the compose network, where the replicas are)."""
    parser = argparse.ArgumentParser(prog="python -m bench.runtime.verify", description=__doc__)
    parser.add_argument("--strategy", required=True, choices=list(STRATEGIES))
    parser.add_argument(
        "--targets", required=True, type=target_list, help="comma-separated replica base URLs"
    )
    parser.add_argument("--product", type=int, required=True, help="a probe-only product id")
    args = parser.parse_args(argv)
    targets = args.targets
    replicas = [Replica(f"{args.strategy}-{i}", url) for i, url in enumerate(targets, 1)]
    try:
        verify(args.strategy, replicas, args.product)
    except VerifyFailed as exc:
        print(f"{args.strategy} failed verification: {exc}", file=sys.stderr)
        return VERIFY_FAILED
    print(f"{args.strategy}: verified on {len(targets)} replicas", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
