"""The request file format and its buffered writer, free of Locust.

Kept apart from `scenarios.recorder` (the Locust listener) because importing locust
gevent-patches the whole process: tests and analysis can import this module safely.

One CSV per Locust process, `$BENCH_RUN_DIR/requests/<hostname>-<pid>.csv`, one row per
request, columns `COLUMNS` in that order. Times are wall-clock nanoseconds since the
epoch so rows from several processes (and the probe) line up on one clock.

Everything here runs once per request inside Locust, so it is written for speed: rows are
formatted with one f-string instead of the csv module (which costs ~1 us per row plus ~8
us per kB of a list's `items`), and a list body, which repeats byte for byte while it is
cached, is read once per distinct body. Bodies are read by `scenarios.bodies`, the one
reading of an answer, so a body the suite cannot read is a failed request here too.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time
from pathlib import Path
from typing import Protocol

from scenarios import bodies

# The one statement of the row schema: column order and the pandas dtype analysis reads
# each column as (nullable `Int64`: a failed request has no version).
DTYPES: dict[str, str] = {
    "strategy": "string",
    "op": "string",
    "key": "string",
    "t_start_ns": "int64",
    "t_end_ns": "int64",
    "latency_ms": "float64",
    "status": "int64",
    "version": "Int64",
    "items": "string",
    "cache": "string",
    "replica": "string",
    "worker": "string",
    "server_ms": "float64",  # the replica's own time (Server-Timing app;dur); NaN: none sent
    "t_intended_ns": "Int64",  # open loop: when the schedule meant to send it; closed: <NA>
    # why a request failed where its status cannot say: "" for an answer that read (or a
    # 3xx/4xx/5xx, whose status says it), else one of ERRORS or the exception's class
    "error": "string",
}
COLUMNS: tuple[str, ...] = tuple(DTYPES)
REQUESTS_FOLDER = "requests"  # under BENCH_RUN_DIR; bench.layout names the same folder
HEADER = ",".join(COLUMNS) + "\n"
OPS: tuple[str, ...] = ("read", "write", "list")
CACHE_VALUES: tuple[str, ...] = ("local", "redis", "stale", "miss")
# The `error` of a request that has no answer to read: a 2xx whose body does not parse or
# lacks its version or items; no answer within the request deadline; still unanswered when
# the load stopped (t_end_ns: when it was given up). A failed connection (status 0) names
# its exception's class instead, e.g. ConnectionRefusedError.
UNPARSEABLE, TIMEOUT, UNANSWERED = "unparseable", "timeout", "unanswered"
ERRORS: tuple[str, ...] = (UNPARSEABLE, TIMEOUT, UNANSWERED)

BATCH_ROWS = 2000
BATCH_SECONDS = 0.2  # a killed Locust loses at most this much of its rows
# Distinct list bodies remembered (~15 kB each for 100 products).
LIST_MEMO_SIZE = 256

# `app;dur=0.123` among a Server-Timing header's metrics; only digits reach the row.
_APP_DUR = re.compile(r"(?:^|,)\s*app\s*;(?:[^,]*;)?\s*dur=(\d+(?:\.\d+)?)\s*(?:[,;]|$)")


def worker_name() -> str:
    """`hostname-pid`: unique per Locust process, also across machines."""
    return f"{socket.gethostname()}-{os.getpid()}"


@functools.lru_cache(maxsize=LIST_MEMO_SIZE)
def list_items(body: bytes) -> str | None:
    """The products a list body states, as `id:version` separated by spaces; None when
    the body does not read as a list (`scenarios.bodies.list_items`).

    Memoised on the exact body: a cached list is served byte for byte the same until a
    write retires it, so most list responses repeat one seen a moment ago. Hashing a
    13 kB body costs ~3 us where parsing it costs ~80 us (100 products).
    """
    items = bodies.list_items(body)
    if items is None:
        return None
    return " ".join(f"{product_id}:{version}" for product_id, version in items)


def answer_fields(op: str, body: bytes | None) -> tuple[str, str, str]:
    """`(version, items, error)` of a 2xx answer to `op`, as the row holds them: a list's
    items, a product's (read or write) top-level version, or `UNPARSEABLE` and neither."""
    if op == "list":
        items = list_items(body or b"")
        return ("", "", UNPARSEABLE) if items is None else ("", items, "")
    version = bodies.product_version(body)
    return ("", "", UNPARSEABLE) if version is None else (str(version), "", "")


def failure_text(exception: BaseException | None) -> str:
    """The `error` of a request that got no whole answer: `TIMEOUT` for a socket or gevent
    timeout, else the exception's class (the cause's, for a client's wrapper of it, such
    as geventhttpclient's RetriesExceeded); "" with no exception."""
    if exception is None:
        return ""
    cause = getattr(exception, "original", None)
    if isinstance(cause, BaseException):
        exception = cause
    if isinstance(exception, TimeoutError) or type(exception).__name__ == "Timeout":
        return TIMEOUT
    return type(exception).__name__


def server_ms(header: str) -> str:
    """The `app` metric's `dur` of a Server-Timing header, as decimal text; "" if absent."""
    match = _APP_DUR.search(header) if header else None
    return match.group(1) if match else ""


def csv_field(text: str) -> str:
    """`text` quoted as RFC 4180 wants when it holds a comma, quote or line break."""
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def format_row(
    strategy: str,
    op: str,
    key: str,
    t_start_ns: int,
    t_end_ns: int,
    latency_ms: float,
    status: int,
    version: str,
    items: str,
    cache: str,
    replica: str,
    worker: str,
    server: str = "",
    intended_ns: str = "",
    error: str = "",
) -> str:
    """One CSV line in `COLUMNS` order.

    Fields that come from outside (context key, headers, an exception's name) are quoted
    when needed; `strategy` and `worker` must already be (see `RequestRecorder`), and
    numbers, versions and items (digits, `:` and spaces) cannot need it.
    """
    return (
        f"{strategy},{op},{csv_field(key)},{t_start_ns},{t_end_ns},{latency_ms:.3f},"
        f"{status},{version},{items},{csv_field(cache)},{csv_field(replica)},"
        f"{worker},{server},{intended_ns},{csv_field(error)}\n"
    )


class RowBatch:
    """Buffers formatted lines and hands them on in batches: when `batch_rows` are waiting
    or `batch_seconds` have passed since the last batch. `deliver` says where to."""

    def __init__(self, batch_rows: int = BATCH_ROWS, batch_seconds: float = BATCH_SECONDS) -> None:
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.lines: list[str] = []
        self._last_flush = time.monotonic()

    def add(self, line: str) -> None:
        """Buffer one line from `format_row`; flush when the batch is full or its time is up."""
        self.lines.append(line)
        if len(self.lines) >= self.batch_rows or (
            time.monotonic() - self._last_flush >= self.batch_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Hand on what is buffered (nothing when nothing is)."""
        self._last_flush = time.monotonic()
        if not self.lines:
            return
        lines, self.lines = self.lines, []
        self.deliver(lines)

    def deliver(self, lines: list[str]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Hand on the rest: the last call, as the process ends."""
        self.flush()


class RowCopy(Protocol):
    """A second file of a CSV's rows (`scenarios.parquet_copy.ParquetCopy`)."""

    def add(self, text: str) -> None: ...

    def seal(self, csv_bytes: int) -> None: ...


class RowWriter(RowBatch):
    """Appends batches of lines to one CSV, and to its Parquet copy if given one.

    The file is created on the first flush that has rows, so a process that sends no
    request (a Locust master) leaves no file. Appending, and writing the header only
    into an empty file, makes repeated flushes and a restarted process safe. The copy
    (`scenarios.parquet_copy`) is kept only of a file this writer began, so that it holds
    all of it, and counts once `close` has sealed it.
    """

    def __init__(
        self,
        path: Path,
        batch_rows: int = BATCH_ROWS,
        batch_seconds: float = BATCH_SECONDS,
        copy: RowCopy | None = None,
    ) -> None:
        super().__init__(batch_rows, batch_seconds)
        self.path = path
        self.copy = copy
        self.rows_written = 0

    def deliver(self, lines: list[str]) -> None:
        """Append `lines` to the file (creating it with a header if needed), then copy
        them: the CSV first, as the record."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(lines)
        with self.path.open("a", encoding="utf-8", newline="") as file:
            if file.tell() == 0:
                file.write(HEADER)
            elif self.rows_written == 0:
                self.copy = None  # another's file: a copy would lack its rows
            file.write(text)
        self.rows_written += len(lines)
        if self.copy is not None:
            self.copy.add(text)

    def close(self) -> None:
        """Write out what is buffered and seal the copy; rows after this go to the CSV
        alone (the copy then no longer counts)."""
        self.flush()
        if self.copy is not None and self.rows_written:
            self.copy.seal(self.path.stat().st_size)
        self.copy = None
