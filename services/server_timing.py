"""`Server-Timing: app;dur=<ms>` on every response: the replica's own handling time.

The load generator's latency is the client's view: its own scheduling, the kernel's
loopback and, on a shared machine, the CPU the replicas and Locust take from each other.
This header lets the recorder put the service's share beside it (W3C Server Timing), so
a figure in a report can be told apart from the instrument's.

A pure ASGI middleware, not Starlette's `BaseHTTPMiddleware`, which would wrap every
response in a stream and cost more than the cached read it times. The clock starts when
the request reaches the app and stops when the response starts: the body of every
route here is sent in one message right after.
"""

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                headers: Any = message.get("headers", ())
                message["headers"] = [*headers, (b"server-timing", b"app;dur=%.3f" % ms)]
            await send(message)

        await self.app(scope, receive, timed)
