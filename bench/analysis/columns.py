"""The catalogue of summary columns: each figure of summary.csv named once, with its unit,
its header, which direction is better, and where it is shown.

summary.csv's columns are this catalogue in order; the run report's tables, `bench
compare`, the sweep report and its repeats, and the faults section each take the columns
marked for them. A column's name is written where it is computed (`bench.analysis.figures`
and the modules it names) and here, nowhere else; tests/test_columns.py holds the two
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Where a column is shown: the run report's tables, each narrow enough to read (about
# eight figures): "Throughput and hits" ("speed"), "Latency" ("latency": beside the
# percentiles `--percentiles` asks for, `bench.report.latency`), "Stale reads" ("stale"),
# "Probe convergence" ("probe"), "Probe bracket and white-box" ("bracket");
# `cache-bench compare` ("compare"), the sweep report with its repeats' intervals
# ("sweep"), the faults section's own-figures table ("faults").
Place = Literal["speed", "latency", "stale", "probe", "bracket", "compare", "sweep", "faults"]
Better = Literal["higher", "lower"] | None


@dataclass(frozen=True)
class Column:
    """One summary column. `unit` is what its name's suffix says (`_ms`, `_ratio`) or a
    count or rate; `title` is the sweep report's longer heading, where it has one."""

    name: str
    unit: Literal["", "ms", "ratio", "count", "per_s", "s"]
    better: Better = None
    shown: frozenset[Place] = frozenset()
    header: str = ""
    title: str = ""

    @property
    def heading(self) -> str:
        """`read_p99_ms` -> `read p99 ms` unless it has a header of its own."""
        return self.header or self.name.replace("_", " ")


def _c(name: str, unit: str, better: Better = None, shown: str = "", header: str = "",
       title: str = "") -> Column:  # fmt: skip
    return Column(name, unit, better, frozenset(shown.split()), header, title)  # type: ignore[arg-type]


CATALOGUE: tuple[Column, ...] = (
    _c("strategy", ""),
    _c("scenario", ""),
    _c("replicas", "count"),
    _c("ttl_s", "s"),
    _c("requests", "count", None, "speed"),
    _c("rps", "per_s", "higher", "speed compare sweep", "req/s", "Requests/s"),
    _c("errors", "count", "lower", "speed compare"),
    _c("unparseable", "count", "lower", "speed compare"),
    _c("reads", "count"),
    _c("reads_checked", "count"),
    _c("writes", "count"),
    _c("read_p50_ms", "ms", "lower", "compare"),
    _c("read_p90_ms", "ms", "lower"),
    _c("read_p99_ms", "ms", "lower", "compare sweep",
       title="Read p99, ms (lower is better)"),
    _c("read_p999_ms", "ms", "lower", "compare", "read p99.9 ms"),
    _c("read_max_ms", "ms", "lower", "latency"),
    _c("read_server_p50_ms", "ms", "lower", "compare"),
    _c("read_server_p99_ms", "ms", "lower", "compare"),
    _c("read_intended_p50_ms", "ms", "lower"),
    _c("read_intended_p99_ms", "ms", "lower"),
    _c("arrivals_late", "count", "lower"),
    _c("arrival_lateness_p99_ms", "ms", "lower"),
    _c("write_p50_ms", "ms", "lower"),
    _c("write_p99_ms", "ms", "lower", "compare"),
    _c("hit_ratio", "ratio", "higher", "speed compare sweep",
       title="Hit ratio (higher is better)"),
    _c("local_hit_ratio", "ratio", "higher", "speed compare", "local hit ratio"),
    _c("origin_rps_mean", "per_s", "lower", "speed compare sweep", "origin reads/s",
       "Origin reads/s, mean over 1 s windows (lower is better)"),
    _c("origin_rps_peak", "per_s", "lower", "speed compare", "origin reads/s peak"),
    _c("origin_lag_ms_p50", "ms", None, "compare", "origin lag p50 ms"),
    _c("origin_lag_ms_max", "ms", None, "", "origin lag max ms"),
    _c("herd_size_p50", "count", "lower", "compare"),
    _c("herd_size_p99", "count", "lower", "compare"),
    _c("herd_size_max", "count", "lower"),
    _c("read_p99_after_expiry_ms", "ms", "lower", "compare"),
    _c("stale_reads", "count", "lower", "stale faults"),
    _c("stale_read_ratio", "ratio", "lower", "stale compare sweep faults",
       title="Stale-read ratio (lower is better)"),
    _c("stale_by_design_ratio", "ratio", None, "stale compare", "stale by design"),
    _c("stale_age_p50_ms", "ms", "lower", "stale"),
    _c("stale_age_p99_ms", "ms", "lower", "stale compare sweep faults",
       title="Stale age p99 over stale reads, ms (lower is better)"),
    _c("stale_age_max_ms", "ms", "lower", "stale compare faults"),
    _c("list_stale_ratio", "ratio", "lower", "stale"),
    _c("stale_reads_origin", "count", "lower", "compare", "stale from origin"),
    _c("stale_reads_cached", "count", "lower", "compare", "stale from cache"),
    _c("stale_age_origin_max_ms", "ms", "lower", "", "oldest stale from origin ms"),
    _c("stale_age_cached_max_ms", "ms", "lower", "compare", "oldest stale from cache ms"),
    _c("read_staleness_p99_ms", "ms", "lower", "sweep faults",
       title="Read staleness p99 over all reads, ms: the tuner's budget figure"),
    _c("probe_cycles", "count", None, "probe"),
    _c("probe_convergence_p50_ms", "ms", "lower", "probe compare sweep",
       "probe upper bound p50 ms", "Probe convergence p50, ms (lower is better)"),
    _c("probe_convergence_p99_ms", "ms", "lower", "probe compare"),
    _c("probe_convergence_max_ms", "ms", "lower", "probe"),
    _c("probe_convergence_lo_p50_ms", "ms", None, "bracket", "probe lower bound p50 ms"),
    _c("probe_bracket_p50_ms", "ms", "lower", "bracket", "probe bracket p50 ms"),
    _c("probe_poll_interval_ms", "ms"),
    _c("probe_censored", "count", "lower", "probe"),
    _c("probe_errors", "count", "lower", "probe"),
    _c("whitebox_p50_ms", "ms", "lower", "bracket", "white-box p50 ms"),
    _c("whitebox_p99_ms", "ms", "lower"),
    _c("whitebox_rows", "count"),
    _c("whitebox_outside", "count", "lower", "bracket", "white-box outside bracket"),
)  # fmt: skip
COLUMNS: dict[str, Column] = {column.name: column for column in CATALOGUE}
SUMMARY_COLUMNS: tuple[str, ...] = tuple(COLUMNS)


def shown_in(place: Place) -> tuple[str, ...]:
    """The names of the columns shown in `place`, in the catalogue's order."""
    return tuple(c.name for c in CATALOGUE if place in c.shown)


def heading(name: str) -> str:
    """A column's header; a name not catalogued (a column of an older summary) as is."""
    column = COLUMNS.get(name)
    return column.heading if column else name.replace("_", " ")
