"""The catalogue of summary columns (`bench.analysis.columns`) and what computes them
agree: every catalogued column is computed by some figure of analysis, and every figure
computed is catalogued, so a column is never named in a report that analysis does not
make, nor made without a home. (That summary.csv holds exactly the catalogue's columns,
in order, is tests/test_analysis.py's `test_write_analysis_writes_three_tables`.)"""

import pandas as pd

from bench.analysis.columns import CATALOGUE, COLUMNS, SUMMARY_COLUMNS, shown_in
from bench.analysis.figures import probe_stats, read_stats, request_stats
from bench.analysis.herds import STAT_COLUMNS as HERD_COLUMNS
from bench.analysis.origin_lag import STAT_COLUMNS as LAG_COLUMNS
from bench.analysis.summary import CONFIG_COLUMNS
from bench.analysis.whitebox import STAT_COLUMNS as WHITEBOX_COLUMNS
from bench.probe.cycle import DTYPES as PROBE_DTYPES
from scenarios.request_rows import DTYPES as REQUEST_DTYPES

ORIGIN_COLUMNS = ("origin_rps_mean", "origin_rps_peak")  # bench.analysis.timeline.origin_load


def empty(dtypes: dict[str, str], **extra: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in {**dtypes, **extra}.items()})


def computed() -> list[str]:
    requests = empty(REQUEST_DTYPES)
    reads = empty(REQUEST_DTYPES, stale="bool", stale_age_ms="float64")
    return [
        "strategy",
        *CONFIG_COLUMNS,
        *request_stats(requests),
        *read_stats(reads),
        *probe_stats(empty(PROBE_DTYPES)),
        *HERD_COLUMNS,
        *ORIGIN_COLUMNS,
        *WHITEBOX_COLUMNS,
        *LAG_COLUMNS,
    ]


def test_every_catalogued_column_is_computed_and_every_computed_one_catalogued() -> None:
    made = set(computed()) - {"repeat"}  # a sweep's, added beside ttl_s when it has one
    assert set(SUMMARY_COLUMNS) == made


def test_a_column_s_unit_agrees_with_its_name_and_a_ranked_one_has_a_direction() -> None:
    for column in CATALOGUE:
        assert ("_ms" in column.name) == (column.unit == "ms"), column
        assert column.name.endswith("_ratio") == (column.unit == "ratio"), column
    assert all(COLUMNS[name].better is not None for name in shown_in("sweep"))
    assert all(COLUMNS[name].title for name in shown_in("sweep"))


def test_each_table_of_the_run_report_is_narrow_and_shows_a_column_once() -> None:
    from bench.report.run import SUMMARY_TABLES

    for title, columns in SUMMARY_TABLES:
        assert 0 < len(columns) <= 8, f"{title}: {len(columns)} figures, too wide to read"
    shown = [name for _, columns in SUMMARY_TABLES for name in columns]
    assert len(shown) == len(set(shown))
    # the freshness figures, once one table of 17, each still in the report
    freshness = {"stale_reads", "stale_read_ratio", "stale_age_p99_ms", "list_stale_ratio",
                 "probe_convergence_p50_ms", "probe_bracket_p50_ms", "probe_censored",
                 "probe_errors", "whitebox_p50_ms", "whitebox_outside"}  # fmt: skip
    assert freshness <= set(shown)
