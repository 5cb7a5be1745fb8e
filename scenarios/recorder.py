"""The one Locust listener that records every request into the run folder.

Importing this module registers it (every locustfile does, through `scenarios.workload`).
Each Locust process writes its own `$BENCH_RUN_DIR/requests/<hostname>-<pid>.csv`, so a
plain run, a master with workers and `--processes N` all work without coordination; the
master sends no request and so writes no file. Beside it goes the file's Parquet copy
(`scenarios.parquet_copy`), sealed as the process exits.

The task tells the listener what it did through the request's `context`:
`{"op": "read" | "write" | "list", "key": "<id or category>"}`, and what it made of the
answer: `answer`, the body's (version, items, error) as `request_rows.answer_fields`
reads them, or `error` for a request it gave up (`timeout`, `unanswered`). The listener
adds what only the response knows: status, X-Cache, X-Replica (or, without it, the
target URL the request went to, from the context), and for a request that got no answer
the client's exception (`request_rows.failure_text`).

Environment:
- BENCH_RUN_DIR: the run folder (required to record; without it a warning is logged).
- BENCH_STRATEGY: copied into every row's `strategy` column.
- BENCH_RECORD: `0` registers nothing, to measure what recording costs.
- BENCH_ROWS: `channel` sends a worker's rows to its master over Locust's messaging,
  which writes them (`scenarios.row_channel`): for workers on other machines; `files`
  (the default) writes them where the process runs.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.exception import CatchResponseError

from scenarios import clock_sync
from scenarios.parquet_copy import ParquetCopy
from scenarios.request_rows import (
    BATCH_SECONDS,
    REQUESTS_FOLDER,
    RowWriter,
    answer_fields,
    csv_field,
    failure_text,
    format_row,
    server_ms,
    worker_name,
)
from scenarios.row_channel import ChannelWriter, attach_master, attach_worker, channel_on

logger = logging.getLogger(__name__)


class RequestRecorder:
    """Turns Locust request events into rows of `scenarios.request_rows.COLUMNS`."""

    def __init__(self, run_dir: Path, strategy: str) -> None:
        self.run_dir = run_dir
        self.strategy_name = strategy
        self.strategy = csv_field(strategy)  # quoted once here, not on every row
        self.skew_ns = clock_sync.skew_ns()  # test-only: 0 unless BENCH_CLOCK_SKEW_MS
        self.writer: RowWriter | ChannelWriter
        self._open_for_this_process()

    def _open_for_this_process(self) -> None:
        # `locust --processes N` forks after importing the locustfile: a child must not
        # keep the parent's pid in its file name or worker column.
        self.pid = os.getpid()
        name = worker_name()
        self.worker = csv_field(name)  # quoted once here, not on every row
        path = self.run_dir / REQUESTS_FOLDER / f"{name}.csv"
        self.writer = RowWriter(path, copy=ParquetCopy(path))

    def on_init(self, environment: Any = None, **_kwargs: Any) -> None:
        """Runs in every process after any fork, before the first request. With
        BENCH_ROWS=channel a worker's rows go to its master, which writes them."""
        if os.getpid() != self.pid:
            self._open_for_this_process()
        runner = getattr(environment, "runner", None)
        if channel_on() and runner is not None:
            from locust.runners import MasterRunner, WorkerRunner

            if isinstance(runner, WorkerRunner):
                self.writer = ChannelWriter(runner, worker_name())
                attach_worker(environment, self.writer)
                clock_sync.attach_worker(environment, worker_name())
            elif isinstance(runner, MasterRunner):
                attach_master(environment, self.run_dir)
                clock_sync.attach_master(environment, self.run_dir, self.strategy_name)
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
        context: dict[str, Any] | None = None,
        start_time: float | None = None,
        exception: BaseException | None = None,
        **_kwargs: Any,
    ) -> None:
        """Buffer one row. The hot path: dict lookups, the body read once, one f-string."""
        context = context or {}
        op, key = context.get("op", ""), context.get("key", "")
        intended = context.get("intended_ns", "")
        t_start_ns = int((start_time or 0.0) * 1e9) + self.skew_ns
        t_end_ns = t_start_ns + int(response_time * 1e6)
        status = response.status_code if response is not None else 0
        version = items = cache = replica = server = error = ""
        if "error" in context:  # a request its user gave up
            error = context["error"]
        elif "answer" in context:  # a 2xx the task has read
            version, items, error = context["answer"]
        elif exception is not None and not isinstance(exception, CatchResponseError):
            error = failure_text(exception)  # no answer, or its body cut off
        elif 200 <= status < 300:  # a task of another locustfile: read it here
            version, items, error = answer_fields(op, response.content)
        headers = response.headers if response is not None else None
        if headers is not None:
            cache = headers.get("x-cache") or ""
            replica = headers.get("x-replica") or ""
            timing = headers.get("server-timing") or ""
            if type(cache) is not str or type(replica) is not str:  # a repeated header
                cache, replica = _joined(cache), _joined(replica)
            server = server_ms(timing if type(timing) is str else _joined(timing))
        if not replica:  # a service without X-Replica: its URL names it
            replica = context.get("target", "")
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
                error,
            )
        )

    def flush(self, **_kwargs: Any) -> None:
        """Write out what is buffered: on test stop and on quit, so no row is lost."""
        self.writer.flush()

    def close(self) -> None:
        """Write out the rest and seal the file's Parquet copy, as the process exits:
        not on Locust's `quitting`, which a SIGTERM fires before the users are stopped
        and their requests in flight recorded."""
        self.writer.close()


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
    atexit.register(recorder.close)
    return recorder


RECORDER = register()
