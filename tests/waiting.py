"""Wait on an async condition with a bounded timeout; sync waits use bench.processes.wait_until."""

import asyncio
import time
from collections.abc import Awaitable, Callable

POLL_S = 0.01


async def async_wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(POLL_S)
