"""Waiting for a condition with a bounded timeout: for a child to serve, for a replica to
turn fresh. A child that dies while we wait fails the wait at once, with its log tail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.bounded_http import request
from bench.runtime.processes import Child, ChildExitedError, SupervisorError, log_tail


class StartupTimeout(SupervisorError):
    """A readiness check did not pass within its time limit."""


def wait_until(
    check: Callable[[], bool],
    timeout_s: float,
    *,
    what: str,
    child: Child | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    poll_interval_s: float = 0.1,
) -> None:
    """Poll `check` until it returns True, for at most about `timeout_s` seconds.

    Exceptions of the `retry_on` types mean "not ready yet" (the last one is quoted in
    the timeout message); anything else is a bug and propagates. If `child` is given and
    it exits first, raise ChildExitedError at once instead of waiting out the timeout.
    """
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    while True:
        if child is not None and child.returncode is not None:
            raise ChildExitedError(child, during=what)
        try:
            if check():
                return
            last_error = None
        except retry_on as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            message = f"{what} not ready after {timeout_s:.1f} s"
            if last_error is not None:
                message += f" (last error: {last_error!r})"
            if child is not None:
                message += f"; last lines of {child.log_path}:\n{log_tail(child.log_path)}"
            raise StartupTimeout(message)
        time.sleep(poll_interval_s)


def wait_http_ok(
    url: str, timeout_s: float, *, child: Child | None = None, poll_interval_s: float = 0.1
) -> None:
    """Poll `url` until it answers 200; raise with `child`'s log tail if it dies or times out.

    Each poll is one request of at most 1 s in all, redirected nowhere and asking no proxy
    (a user's http_proxy must not intercept loopback health checks).
    """

    def answers_200() -> bool:
        return request("GET", url, timeout_s=1.0).status == 200

    # No answer (refused, timed out: bench.bounded_http.NoAnswer) is an OSError: "not ready
    # yet", as is any status but 200 (e.g. 503 while starting).
    wait_until(
        answers_200,
        timeout_s,
        what=f"GET {url}",
        child=child,
        retry_on=(OSError,),
        poll_interval_s=poll_interval_s,
    )
