"""The one Locust listener that records every request into the run folder.

Importing this module registers it (every locustfile does, through `scenarios.workload`).
Each Locust process writes its own `$BENCH_RUN_DIR/requests/<hostname>-<pid>.csv`, so a
plain run, a master with workers and `--processes N` all work without coordination; the
master sends no request and so writes no file.

The task tells the listener what it did through the request's `context`:
`{"op": "read" | "write" | "list", "key": "<id or category>"}`. The listener adds what
only the response knows: status, version(s), X-Cache, X-Replica (or, without it, the
target URL the request went to, from the context).

Environment:
- BENCH_RUN_DIR: the run folder (required to record; without it a warning is logged).
- BENCH_STRATEGY: copied into every row's `strategy` column.
- BENCH_RECORD: `0` registers nothing, to measure what recording costs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gevent
from locust import events

from scenarios.request_rows import (
    BATCH_SECONDS,
    REQUESTS_FOLDER,
    RowWriter,
    csv_field,
    format_row,
    list_items,
    product_version,
    server_ms,
    worker_name,
)

logger = logging.getLogger(__name__)


class RequestRecorder:
    """Turns Locust request events into rows of `scenarios.request_rows.COLUMNS`."""

    def __init__(self, run_dir: Path, strategy: str) -> None:
        self.run_dir = run_dir
        self.strategy = csv_field(strategy)  # quoted once here, not on every row
        self._open_for_this_process()

    def _open_for_this_process(self) -> None:
        # `locust --processes N` forks after importing the locustfile: a child must not
        # keep the parent's pid in its file name or worker column.
        self.pid = os.getpid()
        name = worker_name()
        self.worker = csv_field(name)  # quoted once here, not on every row
        self.writer = RowWriter(self.run_dir / REQUESTS_FOLDER / f"{name}.csv")

    def on_init(self, **_kwargs: Any) -> None:
        """Runs in every process after any fork, before the first request."""
        if os.getpid() != self.pid:
            self._open_for_this_process()
        gevent.spawn(self._flush_every_batch_period)

    def _flush_every_batch_period(self) -> None:
        """Rows reach the disk within BATCH_SECONDS even when no request comes to flush
        them (a stalled replica, a slow pace), so a killed Locust loses at most that much."""
        while True:
            gevent.sleep(BATCH_SECONDS)
            self.writer.flush()

    def on_request(
        self,
        response_time: float,
        response: Any = None,
        context: dict[str, str] | None = None,
        start_time: float | None = None,
        **_kwargs: Any,
    ) -> None:
        """Buffer one row. The hot path: dict lookups, one scan of the body, one f-string."""
        op = context.get("op", "") if context else ""
        key = context.get("key", "") if context else ""
        intended = context.get("intended_ns", "") if context else ""
        t_start_ns = int((start_time or 0.0) * 1e9)
        t_end_ns = t_start_ns + int(response_time * 1e6)
        status = response.status_code if response is not None else 0
        version = items = cache = replica = server = ""
        headers = response.headers if response is not None else None
        if headers is not None:
            cache = headers.get("x-cache") or ""
            replica = headers.get("x-replica") or ""
            timing = headers.get("server-timing") or ""
            if type(cache) is not str or type(replica) is not str:  # a repeated header
                cache, replica = _joined(cache), _joined(replica)
            server = server_ms(timing if type(timing) is str else _joined(timing))
        if not replica and context:  # a service without X-Replica: its URL names it
            replica = context.get("target", "")
        if 200 <= status < 300:
            if op == "list":
                items = list_items(response.content)
            else:
                version = product_version(response.content)
        self.writer.add(
            format_row(
                self.strategy,
                op,
                key,
                t_start_ns,
                t_end_ns,
                response_time,
                status,
                version,
                items,
                cache,
                replica,
                self.worker,
                server,
                str(intended),
            )
        )

    def flush(self, **_kwargs: Any) -> None:
        """Write out what is buffered: on test stop and on quit, so no row is lost."""
        self.writer.flush()


def _joined(value: str | list[str]) -> str:
    """A header sent more than once, as one field (Headers.get returns a list then)."""
    return value if isinstance(value, str) else ",".join(value)


def register(environ: Mapping[str, str] = os.environ) -> RequestRecorder | None:
    """Attach a recorder to Locust's events unless recording is off; return it."""
    if environ.get("BENCH_RECORD", "1") == "0":
        logger.info("BENCH_RECORD=0: requests are not recorded")
        return None
    run_dir = environ.get("BENCH_RUN_DIR")
    if not run_dir:
        logger.warning("BENCH_RUN_DIR is not set: requests are not recorded")
        return None
    recorder = RequestRecorder(Path(run_dir), environ.get("BENCH_STRATEGY", ""))
    events.init.add_listener(recorder.on_init)
    events.request.add_listener(recorder.on_request)
    events.test_stop.add_listener(recorder.flush)
    events.quitting.add_listener(recorder.flush)
    return recorder


RECORDER = register()
