"""The run folder's layout: the one place that names its folders and files.

A run folder holds what the run recorded (run.json, requests/, probe/, locust/, logs/)
and what analysis and the report derived from it (summary.csv and the rest); a sweep
folder holds the same at its top plus one run folder per cell under cells/. Writers and
readers ask `RunFolder` for a path instead of spelling it, so the layout can be read in
one screen and changed in one place. The Locust recorder cannot import this module (it
runs under gevent and imports nothing from bench/): it writes into
`scenarios.request_rows.REQUESTS_FOLDER`, which a test ties to `RunFolder.requests`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one run (or sweep) folder; nothing here touches the disk but
    `request_files`."""

    path: Path

    # what the run records
    @property
    def manifest(self) -> Path:
        return self.path / "run.json"

    @property
    def requests(self) -> Path:
        """One CSV of request rows per Locust process (scenarios.recorder writes them)."""
        return self.path / "requests"

    @property
    def probe(self) -> Path:
        return self.path / "probe"

    def probe_file(self, strategy: str) -> Path:
        return self.probe / f"{strategy}.csv"

    def probe_status(self, strategy: str) -> Path:
        """How the probe ended (`bench.probe.status`), which it writes beside its CSV."""
        return self.probe / f"{strategy}.json"

    @property
    def locust(self) -> Path:
        return self.path / "locust"

    def locust_prefix(self, strategy: str) -> Path:
        """Locust's `--csv` prefix: it writes `<prefix>_stats.csv` and friends."""
        return self.locust / strategy

    def locust_stats(self, strategy: str) -> Path:
        """Locust's stats while it runs, rewritten every second (so up to one behind)."""
        return Path(f"{self.locust_prefix(strategy)}_stats.csv")

    def locust_channel(self, strategy: str) -> Path:
        """Per Locust worker, the rows it sent over the channel and the master received
        (`scenarios.row_channel`); absent without workers."""
        return Path(f"{self.locust_prefix(strategy)}_channel.json")

    def locust_final(self, strategy: str) -> Path:
        """Locust's final stats per endpoint (`--json-file`), written once it stopped."""
        return Path(f"{self.locust_prefix(strategy)}.json")

    def metrics(self, strategy: str) -> Path:
        """The replicas' own counters, scraped once a second during the load."""
        return self.path / "metrics" / f"{strategy}.csv"

    def origin_lag(self, strategy: str) -> Path:
        """The origin read replica's lag, sampled once a second during the load."""
        return self.path / "origin_lag" / f"{strategy}.csv"

    def logs(self, strategy: str) -> Path:
        return self.path / "logs" / strategy

    @property
    def faults(self) -> Path:
        """What each scheduled fault did, per strategy (bench.faults.injector.COLUMNS)."""
        return self.path / "faults.csv"

    def request_files(self) -> set[Path]:
        return set(self.requests.glob("*.csv"))

    # what analysis and the report derive (rewritten by `bench report`)
    @property
    def summary(self) -> Path:
        return self.path / "summary.csv"

    @property
    def summary_json(self) -> Path:
        """The summary for machines: figures, intervals, verdicts (docs/summary.schema.json)."""
        return self.path / "summary.json"

    @property
    def clocks(self) -> Path:
        """Each Locust worker's clock against its master's (`scenarios.clock_sync`)."""
        return self.path / "clocks.csv"

    @property
    def repeats(self) -> Path:
        """A run with repeats: one summary row per strategy and repeat."""
        return self.path / "repeats.csv"

    @property
    def t_visibility(self) -> Path:
        return self.path / "t_visibility.csv"

    @property
    def invalidations(self) -> Path:
        """Each replica's white-box log (`services.invalidation_log`): <replica>.csv."""
        return self.path / "invalidations"

    @property
    def whitebox(self) -> Path:
        return self.path / "whitebox.csv"

    @property
    def write_visibility(self) -> Path:
        return self.path / "write_visibility.csv"

    @property
    def latency_cdf(self) -> Path:
        return self.path / "latency_cdf.csv"

    @property
    def latency_percentiles(self) -> Path:
        """The latency percentiles run.json's config asks for, exactly (`--percentiles`)."""
        return self.path / "latency_percentiles.csv"

    @property
    def timeline(self) -> Path:
        return self.path / "timeline.csv"

    @property
    def fault_effects(self) -> Path:
        """Per injected fault: its stale reads, errors and recovery; absent without faults."""
        return self.path / "fault_effects.csv"

    @property
    def summary_without_faults(self) -> Path:
        return self.path / "summary_without_faults.csv"

    @property
    def t_visibility_without_faults(self) -> Path:
        return self.path / "t_visibility_without_faults.csv"

    @property
    def unreadable_rows(self) -> Path:
        """Raw rows skipped because they did not parse, per file; absent when none."""
        return self.path / "unreadable_rows.csv"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def plot(self, name: str) -> Path:
        return self.plots / f"{name}.png"

    def report(self, suffix: str) -> Path:
        """`report.md` or `report.html`."""
        return self.path / f"report.{suffix}"

    def derived(self) -> list[Path]:
        """Every file and folder above, of what analysis and the report derive (a
        sweep's summary, report and plots among them): what `bench report` rewrites."""
        return [self.summary, self.summary_json, self.repeats, self.t_visibility, self.whitebox,
                self.write_visibility, self.latency_cdf, self.latency_percentiles,
                self.timeline, self.fault_effects, self.summary_without_faults,
                self.t_visibility_without_faults, self.unreadable_rows, self.plots,
                self.report("md"), self.report("html")]  # fmt: skip

    def comparison(self, baseline: Path) -> Path:
        """Where `bench compare BASELINE THIS` writes its markdown."""
        return self.path / f"compare-{baseline.name}.md"

    # a sweep
    @property
    def cells(self) -> Path:
        return self.path / "cells"

    def cell(self, cell_id: str) -> RunFolder:
        return RunFolder(self.cells / cell_id)

    def relative(self, inner: RunFolder) -> str:
        """How a sweep's run.json names a cell's folder: relative to the sweep."""
        return inner.path.relative_to(self.path).as_posix()


def count_rows(files: set[Path]) -> int:
    """Data rows (header excluded) in request files, counted by newlines, 1 MiB at a time."""
    total = 0
    for path in files:
        with path.open("rb") as f:
            total += max(
                sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1, 0
            )
    return total
