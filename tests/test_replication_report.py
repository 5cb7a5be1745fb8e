"""The report's Replication section, on literal summary rows: shown only with a lag or a
link delay, and one sentence per strategy saying what bounded its stale age."""

from bench.report.replication import replication_section

ROWS = [
    {"strategy": "delete", "origin_lag_ms_p50": 210.0, "origin_lag_ms_max": 260.0,
     "stale_reads_origin": 12, "stale_age_origin_max_ms": 190.0,
     "stale_reads_cached": 40, "stale_age_cached_max_ms": 2940.0},
    {"strategy": "guarded", "origin_lag_ms_p50": 205.0, "origin_lag_ms_max": 250.0,
     "stale_reads_origin": 15, "stale_age_origin_max_ms": 201.0,
     "stale_reads_cached": 0, "stale_age_cached_max_ms": float("nan")},
    {"strategy": "marker", "stale_reads_origin": 0, "stale_reads_cached": 0},
]  # fmt: skip


def test_no_lag_and_no_link_delay_no_section() -> None:
    assert replication_section({"origin_lag_ms": None}, ROWS) is None


def test_each_strategy_is_said_by_where_its_stale_reads_were_served() -> None:
    section = replication_section({"origin_lag_ms": 200.0}, ROWS)
    assert section is not None
    assert section["setup"].startswith("The origin's reads went to a streaming replica 200 ms")
    delete, guarded, marker = section["sentences"]
    assert "40 came from the cache, the oldest 2,940 ms, 14x the measured lag" in delete
    assert "12 stale reads came from the origin itself" in delete
    assert guarded.endswith("none was put back in the cache.")
    assert marker == "marker: no stale read."
    assert section["table"]["rows"][2][1] == "-"  # no lag measured for that row
