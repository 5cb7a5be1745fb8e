"""When this replica applied an invalidation, by the wall clock: the white-box side of the
probe's black-box bracket.

The probe sees from outside when each replica turned fresh, to within a poll's round
trip. The replica knows exactly: when it sent a DEL and when Redis confirmed it, when it
dropped a key from its local tier. Each line is `wall ns,event,key`; analysis lines the
events up with the probe's writes (`bench.analysis.whitebox`). Off unless
INVALIDATION_LOG names a file: the harness turns it on for its own runs.

Events: `del_sent` and `del_done` bracket a DEL (Redis applied it in between), `local` is
a key dropped from the local tier (by a message, or by the replica's own write).

An instrument never fails the request it watches: a line that cannot be written (the
disk is full) stops the log, said once in the replica's log, and the write it was
recording still answers 200 (it was a 503 "origin unavailable"). The harness sees the
full disk for itself and ends the run `failed`.
"""

import logging
import time
from collections.abc import Iterable
from contextlib import suppress
from typing import TextIO

log = logging.getLogger("services.invalidation_log")


class InvalidationLog:
    def __init__(self, path: str | None = None) -> None:
        self.path = path
        # line-buffered: a killed replica loses at most the line it was writing
        self._file: TextIO | None = open(path, "a", buffering=1) if path else None  # noqa: SIM115

    def applied(self, event: str, keys: Iterable[str]) -> None:
        if self._file is None:
            return
        now = time.time_ns()
        try:
            self._file.write("".join(f"{now},{event},{key}\n" for key in keys))
        except OSError as exc:
            log.error("invalidation log %s stops: %s", self.path, exc)
            self.close()

    def close(self) -> None:
        if self._file is not None:
            with suppress(OSError):  # what it could not write, it cannot flush either
                self._file.close()
            self._file = None
