"""Request rows from Locust workers to the master over Locust's own messaging.

A worker on another machine has no path to the run folder, so with `BENCH_ROWS=channel`
a worker sends its rows in batches (`register_message` / `send_message`) instead of
appending them to a file, and the master writes each worker's rows to
`requests/<worker>.csv` (and its Parquet copy, sealed once the last rows are in) exactly
as the worker would have: the analysis cannot tell them apart. Nothing is copied by hand.

The end of a load is where rows get lost, so the master does not let Locust's shutdown
decide it: when its test stops, it asks every worker to stop its users and send what it
still holds (`STOP`), and waits, up to `DONE_WAIT_S`, for each to report how many rows it
sent in all (`DONE`). What each worker sent and what the master received is written to
`<the master's --csv prefix>_channel.json`; a worker that died mid-run never reports, so
its loss is plain: received, and no sent count. Each worker says its name (`HELLO`) as it
starts, so one killed before its first batch is named too, with nothing received.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import gevent

from scenarios.parquet_copy import ParquetCopy
from scenarios.request_rows import BATCH_ROWS, BATCH_SECONDS, REQUESTS_FOLDER, RowBatch, RowWriter

logger = logging.getLogger(__name__)

HELLO, ROWS, DONE, STOP = "bench_rows_hello", "bench_rows", "bench_rows_done", "bench_rows_stop"
DONE_WAIT_S = 10.0  # how long a master waits for its workers' last rows at the end
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def channel_on(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return environ.get("BENCH_ROWS", "files") == "channel"


class ChannelWriter(RowBatch):
    """A worker's rows, batched as a `RowWriter` batches them, sent to the master; the
    recorder does not know which of the two it holds."""

    def __init__(self, runner: Any, worker: str, batch_rows: int = BATCH_ROWS,
                 batch_seconds: float = BATCH_SECONDS) -> None:  # fmt: skip
        super().__init__(batch_rows, batch_seconds)
        self.runner = runner
        self.worker = worker
        self.rows_sent = 0

    def hello(self) -> None:
        self.runner.send_message(HELLO, {"worker": self.worker})

    def deliver(self, lines: list[str]) -> None:
        self.runner.send_message(ROWS, {"worker": self.worker, "rows": "".join(lines),
                                        "count": len(lines)})  # fmt: skip
        self.rows_sent += len(lines)

    def done(self) -> None:
        """Send what is left, then the count of every row sent."""
        self.flush()
        self.runner.send_message(DONE, {"worker": self.worker, "sent": self.rows_sent})


def attach_worker(environment: Any, writer: ChannelWriter) -> None:
    """On the master's STOP: stop the users (their last rows, the unanswered ones among
    them, are recorded as the load stops), then send everything and the count."""

    def on_stop(environment: Any, msg: Any, **_kwargs: Any) -> None:
        environment.runner.stop()
        writer.done()

    environment.runner.register_message(STOP, on_stop)
    writer.hello()


class RowReceiver:
    """The master's side: each worker's rows into its file, and the counts at the end."""

    def __init__(self, run_dir: Path, counts_path: Path | None) -> None:
        self.folder = run_dir / REQUESTS_FOLDER
        self.counts_path = counts_path
        self.writers: dict[str, RowWriter] = {}
        self.received: dict[str, int] = {}
        self.sent: dict[str, int] = {}

    def on_hello(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        self.received.setdefault(_worker(msg), 0)

    def on_rows(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        data, worker = msg.data, _worker(msg)
        writer = self.writers.get(worker)
        if writer is None:
            path = self.folder / f"{worker}.csv"
            writer = self.writers[worker] = RowWriter(path, copy=ParquetCopy(path))
        writer.deliver([data["rows"]])  # whole lines, as the worker formatted them
        self.received[worker] = self.received.get(worker, 0) + int(data["count"])

    def on_done(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        worker = _worker(msg)
        self.sent[worker] = int(msg.data["sent"])
        self.received.setdefault(worker, 0)

    def on_test_stop(self, environment: Any, **_kwargs: Any) -> None:
        """Ask every worker for its last rows and wait for their counts, bounded."""
        runner = environment.runner
        runner.send_message(STOP)
        expected = {c.id for c in runner.clients.all}
        deadline = time.monotonic() + DONE_WAIT_S
        while len(self.sent) < max(len(expected), len(self.received)):
            if time.monotonic() > deadline:
                logger.warning("row channel: no final count from some workers after %.0f s",
                               DONE_WAIT_S)  # fmt: skip
                break
            gevent.sleep(0.05)
        self.write_counts()
        for writer in self.writers.values():  # a row that comes later goes to the CSV alone
            writer.close()

    def write_counts(self) -> None:
        if self.counts_path is None:
            return
        counts = {w: {"sent": self.sent.get(w), "received": self.received.get(w, 0)}
                  for w in sorted(set(self.received) | set(self.sent))}  # fmt: skip
        self.counts_path.parent.mkdir(parents=True, exist_ok=True)
        self.counts_path.write_text(json.dumps(counts, indent=1) + "\n")


def _worker(msg: Any) -> str:
    """The sending worker's name, as safe in a file name as `RowWriter` needs it."""
    return _SAFE_NAME.sub("_", str(msg.data["worker"]))


def attach_master(environment: Any, run_dir: Path) -> RowReceiver:
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    receiver = RowReceiver(run_dir, Path(f"{prefix}_channel.json") if prefix else None)
    environment.runner.register_message(HELLO, receiver.on_hello)
    environment.runner.register_message(ROWS, receiver.on_rows)
    environment.runner.register_message(DONE, receiver.on_done)
    environment.events.test_stop.add_listener(receiver.on_test_stop)
    return receiver
