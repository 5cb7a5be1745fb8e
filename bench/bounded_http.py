"""One HTTP request to a replica, bounded in total time and never redirected.

The contract check, verify and the readiness waits ask a replica one thing at a time and
must not be held up, nor sent elsewhere, by what it answers. urllib follows a 3xx (to a
host nobody named a target) and bounds each socket operation, not the request: a server
that sends its headers and then one body byte every few seconds keeps a read going for
minutes. Here every read (status line, headers, body) and the send get what is left of the
request's time and no more, a 3xx is an answer like any other, and no proxy is asked (a
user's http_proxy must not stand between the suite and its targets). One thread, no
helper thread: nothing outlives the call.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

MAX_BODY = 32 * 1024 * 1024  # no answer the suite asks for comes near it


class NoAnswer(OSError):
    """No whole answer in time: refused, reset, timed out, cut off, or not HTTP."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def redirect(self) -> bool:
        return 300 <= self.status < 400

    def redirected(self) -> str:
        """`HTTP 302 to <Location>`, the words every caller reports a 3xx in."""
        return f"HTTP {self.status} to {self.header('location') or '(no Location header)'}"

    def preview(self, limit: int = 60) -> str:
        """The body's start, for a message about a body that does not read as it should."""
        text = self.body[:limit].decode("utf-8", "replace")
        return f"{len(self.body)} bytes: {text!r}" + (" ..." if len(self.body) > limit else "")


class _Timed(io.RawIOBase):
    """A socket's reading side that gives each read only what is left of the request's time."""

    def __init__(self, sock: socket.socket, ends: float) -> None:
        self.sock, self.ends = sock, ends

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _TimedSocket:
    """What http.client sees as its socket: sends and reads bounded by the request's end."""

    def __init__(self, sock: socket.socket, ends: float) -> None:
        self.sock, self.ends = sock, ends

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        assert mode == "rb", mode
        return io.BufferedReader(_Timed(self.sock, self.ends))

    def sendall(self, data: bytes) -> None:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.sock.settimeout(left)  # sendall's timeout bounds the whole send
        self.sock.sendall(data)

    def close(self) -> None:
        """Nothing yet: http.client closes its socket as soon as it has read the headers of
        a `Connection: close` answer, before the body is read (a real socket waits for its
        makefile's readers; this one cannot tell). `request` closes it when done."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def _connection(parts: urllib.parse.SplitResult, ends: float) -> http.client.HTTPConnection:
    left = max(ends - time.monotonic(), 0.001)
    base = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection

    class Timed(base):  # type: ignore[valid-type,misc]
        opened: socket.socket | None = None

        def connect(self) -> None:
            super().connect()  # connects (and shakes hands) within what was left at the start
            self.opened = self.sock
            self.sock = _TimedSocket(self.sock, ends)

    return Timed(parts.hostname or "", parts.port, timeout=left)


def request(
    method: str,
    url: str,
    body: Any = None,
    *,
    timeout_s: float,
    deadline: float | None = None,
) -> Reply:
    """Send `method url` (a JSON `body` if given) and read the whole answer, all within
    `timeout_s` and before `deadline` (a `time.monotonic()` value) if given.

    Any status is a Reply, a 3xx too (never followed); NoAnswer when no whole answer came
    in time or what came is not HTTP. ValueError for a URL that is not http(s)://host."""
    start = time.monotonic()
    ends = start + timeout_s if deadline is None else min(start + timeout_s, deadline)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s)://host URL: {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", "Connection": "close"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if ends <= time.monotonic():
        raise NoAnswer("no time left to ask")
    connection = _connection(parts, ends)
    try:
        connection.request(method, target, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise NoAnswer(f"an answer over {MAX_BODY // 2**20} MiB")
        said = {name.lower(): value for name, value in response.getheaders()}
        response.close()
        return Reply(response.status, said, raw)
    except NoAnswer:
        raise
    except TimeoutError:
        raise NoAnswer(f"no whole answer within {ends - start:.1f} s") from None
    except http.client.IncompleteRead as exc:
        raise NoAnswer(f"the answer was cut off after {len(exc.partial)} bytes") from None
    except http.client.HTTPException as exc:  # a status line or header that is not HTTP
        raise NoAnswer(f"not an HTTP answer ({type(exc).__name__}: {exc})") from None
    except OSError as exc:  # refused, reset, unreachable, a TLS failure
        raise NoAnswer(str(exc.strerror or exc)) from None
    finally:
        connection.close()
        if connection.opened is not None:
            connection.opened.close()
