"""Each replica's own counters, once a second during the load: metrics/<strategy>.csv.

Origin reads per second, cache errors and invalidations as the replicas count them, to
lay beside the recorded requests on the timeline. A thread, so that a paused or killed
replica (a fault) delays no fault and no progress display: it just leaves a gap. A
write that fails (a full disk) stops the thread without a traceback; `stop` raises it.
"""

from __future__ import annotations

import csv
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.runtime.base import Replica

COLUMNS = ("t_ns", "replica", "sample", "value")
SCRAPE_EVERY_S = 1.0
SCRAPE_TIMEOUT_S = 0.5
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def samples(text: str) -> list[tuple[str, float]]:
    """The counters of a /metrics page: (`name{label="v"}`, value), `_total` samples only."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                found.append((f"{sample.name}{{{labels}}}" if labels else sample.name,
                              float(sample.value)))  # fmt: skip
    return found


class Scraper:
    """Scrapes `replicas` every second into `path` until `stop`."""

    def __init__(self, replicas: Sequence[Replica], path: Path) -> None:
        self.replicas, self.path = list(replicas), path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-scraper", daemon=True)
        self.error: OSError | None = None  # why the file could not be written, if it could not

    def start(self) -> Scraper:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop scraping; raise the OSError that stopped the writing, if one did."""
        self._stop.set()
        self._thread.join(timeout=SCRAPE_EVERY_S + len(self.replicas) * SCRAPE_TIMEOUT_S + 1)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self._scrape()
        except OSError as exc:  # raised by `stop`, in the harness's thread
            self.error = exc

    def _scrape(self) -> None:
        with self.path.open("a", newline="") as file:
            writer = csv.writer(file)
            if file.tell() == 0:
                writer.writerow(COLUMNS)
            while not self._stop.is_set():
                began = time.monotonic()
                for replica in self.replicas:
                    t_ns = time.time_ns()
                    try:
                        with _opener.open(f"{replica.url}/metrics", timeout=SCRAPE_TIMEOUT_S) as r:
                            text = r.read().decode()
                    except OSError:  # paused, killed, restarting: a gap is the finding
                        continue
                    writer.writerows((t_ns, replica.name, name, value)
                                     for name, value in samples(text))  # fmt: skip
                file.flush()
                self._stop.wait(max(0.0, SCRAPE_EVERY_S - (time.monotonic() - began)))
