"""The request file format and its buffered writer, free of Locust.

Kept apart from `scenarios.recorder` (the Locust listener) because importing locust
gevent-patches the whole process: tests and analysis can import this module safely.

One CSV per Locust process, `$BENCH_RUN_DIR/requests/<hostname>-<pid>.csv`, one row per
request, columns `COLUMNS` in that order. Times are wall-clock nanoseconds since the
epoch so rows from several processes (and the probe) line up on one clock.

Everything here runs once per request inside Locust, so it is written for speed: bodies
are scanned, not parsed, and rows are formatted with one f-string instead of the csv
module (which costs ~1 us per row plus ~8 us per kB of a list's `items`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import time
from pathlib import Path

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
}
COLUMNS: tuple[str, ...] = tuple(DTYPES)
REQUESTS_FOLDER = "requests"  # under BENCH_RUN_DIR; bench.layout names the same folder
HEADER = ",".join(COLUMNS) + "\n"
OPS: tuple[str, ...] = ("read", "write", "list")
CACHE_VALUES: tuple[str, ...] = ("local", "redis", "stale", "miss")

BATCH_ROWS = 2000
BATCH_SECONDS = 0.2  # a killed Locust loses at most this much of its rows
# Distinct list bodies remembered (~15 kB each for 100 products).
LIST_MEMO_SIZE = 256

# Regexes instead of json.loads: a product body needs one field, a list body two per item,
# and a regex scan costs a fraction of a full parse (json.loads of a 100-product list is
# ~100 us). Safe on the service's JSON: a string value cannot contain `"version":`
# unescaped and no item nests another object. `{"id"` relies on id being each item's
# first field (the model's order) because scanning for `{` is twice as fast as for `"`;
# if the order ever changes the counts disagree and `list_items` falls back to json.
_VERSION = re.compile(rb'"version"\s*:\s*(\d+)')
_ITEM_ID = re.compile(rb'\{"id"\s*:\s*(\d+)')
# `app;dur=0.123` among a Server-Timing header's metrics; only digits reach the row.
_APP_DUR = re.compile(r"(?:^|,)\s*app\s*;(?:[^,]*;)?\s*dur=(\d+(?:\.\d+)?)\s*(?:[,;]|$)")


def worker_name() -> str:
    """`hostname-pid`: unique per Locust process, also across machines."""
    return f"{socket.gethostname()}-{os.getpid()}"


def product_version(body: bytes | None) -> str:
    """The `version` of a product body, as a decimal string; empty when absent."""
    if not body:
        return ""
    match = _VERSION.search(body)
    return match.group(1).decode() if match else ""


@functools.lru_cache(maxsize=LIST_MEMO_SIZE)
def list_items(body: bytes | None) -> str:
    """The products embedded in a list body as `id:version` separated by spaces.

    Memoised on the exact body: a cached list is served byte for byte the same until a
    write retires it, so most list responses repeat one seen a moment ago. Hashing a
    13 kB body costs ~3 us where scanning it costs ~35 us (100 products).
    """
    if not body:
        return ""
    ids = _ITEM_ID.findall(body)
    versions = _VERSION.findall(body)
    if len(ids) != len(versions):
        # Not the shape the scan assumes (a product lacking a field?): parse it properly.
        items = json.loads(body).get("items", [])
        return " ".join(f"{item.get('id', '')}:{item.get('version', '')}" for item in items)
    return b" ".join(map(b":".join, zip(ids, versions, strict=True))).decode()


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
) -> str:
    """One CSV line in `COLUMNS` order.

    Fields that come from outside (context key, headers, a json-fallback item list) are
    quoted when needed; `strategy` and `worker` must already be (see `RequestRecorder`),
    and numbers and scanned versions cannot need it.
    """
    return (
        f"{strategy},{op},{csv_field(key)},{t_start_ns},{t_end_ns},{latency_ms:.3f},"
        f"{status},{version},{csv_field(items)},{csv_field(cache)},{csv_field(replica)},"
        f"{worker},{server},{intended_ns}\n"
    )


class RowWriter:
    """Buffers formatted lines and appends them to one CSV in batches.

    The file is created on the first flush that has rows, so a process that sends no
    request (a Locust master) leaves no file. Appending, and writing the header only
    into an empty file, makes repeated flushes and a restarted process safe.
    """

    def __init__(
        self,
        path: Path,
        batch_rows: int = BATCH_ROWS,
        batch_seconds: float = BATCH_SECONDS,
    ) -> None:
        self.path = path
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.lines: list[str] = []
        self.rows_written = 0
        self._last_flush = time.monotonic()

    def add(self, line: str) -> None:
        """Buffer one line from `format_row`; flush when the batch is full or its time is up."""
        self.lines.append(line)
        if len(self.lines) >= self.batch_rows or (
            time.monotonic() - self._last_flush >= self.batch_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Append the buffered lines to the file (creating it with a header if needed)."""
        self._last_flush = time.monotonic()
        if not self.lines:
            return
        lines, self.lines = self.lines, []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8", newline="") as file:
            if file.tell() == 0:
                file.write(HEADER)
            file.write("".join(lines))
        self.rows_written += len(lines)
