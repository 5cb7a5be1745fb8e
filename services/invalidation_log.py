"""When this replica applied an invalidation, by the wall clock: the white-box side of the
probe's black-box bracket.

The probe sees from outside when each replica turned fresh, to within a poll's round
trip. The replica knows exactly: when it sent a DEL and when Redis confirmed it, when it
dropped a key from its local tier. Each line is `wall ns,event,key`; analysis lines the
events up with the probe's writes (`bench.analysis.whitebox`). Off unless
INVALIDATION_LOG names a file: the harness turns it on for its own runs.

Events: `del_sent` and `del_done` bracket a DEL (Redis applied it in between), `local` is
a key dropped from the local tier (by a message, or by the replica's own write).
"""

import time
from collections.abc import Iterable
from typing import TextIO


class InvalidationLog:
    def __init__(self, path: str | None = None) -> None:
        # line-buffered: a killed replica loses at most the line it was writing
        self._file: TextIO | None = open(path, "a", buffering=1) if path else None  # noqa: SIM115

    def applied(self, event: str, keys: Iterable[str]) -> None:
        if self._file is None:
            return
        now = time.time_ns()
        self._file.write("".join(f"{now},{event},{key}\n" for key in keys))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
