"""Herds counted from hand-made read rows: where they open and close, and what they cost."""

import math

import pandas as pd
import pytest

from bench.analysis.herds import expiry_moments, herd_stats, herds

MS = 1_000_000


def reads(*rows: tuple[str, str, float, str, float]) -> pd.DataFrame:
    """(strategy, key, start ms, cache, latency ms) -> read verdict rows, all 200."""
    columns = ["strategy", "key", "t_ms", "cache", "latency_ms"]
    table = pd.DataFrame(list(rows), columns=columns)
    start = (table.pop("t_ms") * MS).astype("int64")
    end = start + (table["latency_ms"] * MS).astype("int64")
    return table.assign(op="read", t_start_ns=start, t_end_ns=end, status=200,
                        since_write_ms=float("nan"))  # fmt: skip


# key 1 expires twice: 3 readers miss at once, then 1; key 2 misses once, at its first read
ROWS = reads(
    ("delete", "1", 0, "redis", 1),
    ("delete", "1", 10, "miss", 50),
    ("delete", "2", 11, "miss", 50),
    ("delete", "1", 12, "miss", 50),
    ("delete", "1", 14, "miss", 48),
    ("delete", "1", 70, "redis", 1),
    ("delete", "2", 80, "redis", 1),
    ("delete", "1", 2000, "miss", 50),
    ("delete", "1", 2060, "redis", 1),
    ("lease", "1", 5, "miss", 52),
    ("lease", "1", 9, "redis", 45),
)


def test_a_herd_is_a_run_of_misses_on_one_key_across_replicas() -> None:
    table = herds(ROWS)
    assert list(zip(table["strategy"], table["key"], table["size"], strict=True)) == [
        ("delete", "1", 3), ("delete", "1", 1), ("delete", "2", 1), ("lease", "1", 1)]  # fmt: skip
    assert table["t_start_ns"].tolist()[:2] == [10 * MS, 2000 * MS]


def test_readers_refreshing_at_once_are_one_herd_though_others_hit_between() -> None:
    """Early recomputation: two readers of a warm key refresh together while the rest
    hit; their origin reads overlap, so they are one herd of 2, not two herds of 1."""
    table = herds(reads(("xfetch", "1", 0, "redis", 1), ("xfetch", "1", 10, "miss", 50),
                        ("xfetch", "1", 11, "redis", 1), ("xfetch", "1", 20, "miss", 50),
                        ("xfetch", "1", 100, "miss", 50)))  # fmt: skip
    assert table["size"].tolist() == [2, 1]


def test_a_write_between_two_misses_starts_a_new_herd() -> None:
    """The second reader misses because of a write acknowledged after the first miss: a
    new invalidation, a new herd, though the first origin read is still in flight."""
    rows = reads(("lease", "1", 10, "miss", 50), ("lease", "1", 30, "miss", 50))
    rows.loc[1, "since_write_ms"] = 5.0  # a write acked at 25 ms
    assert herds(rows)["size"].tolist() == [1, 1]
    rows.loc[1, "since_write_ms"] = 25.0  # acked at 5 ms, before the first miss
    assert herds(rows)["size"].tolist() == [2]


def test_herd_stats_per_strategy() -> None:
    stats = herd_stats(ROWS, ttl_s=1.0)
    delete = stats.loc["delete"]
    assert delete["herd_size_max"] == 3 and delete["herd_size_p50"] == 1
    # key 1's refills answered at 60, 62, 62 and 2050 ms, so its value expired at 1060,
    # 1062 and 3050 ms: the windows [1060, 2062) and [3050, 4050) hold the reads at 2000
    # (50 ms) and 2060 (1 ms). Key 2's expired at 1061 ms, with no read after it
    expected = pd.Series([50, 1], dtype=float).quantile(0.99)
    assert delete["read_p99_after_expiry_ms"] == pytest.approx(expected)
    assert stats.loc["lease", "herd_size_max"] == 1
    assert math.isnan(stats.loc["lease", "read_p99_after_expiry_ms"]), "no read after 1057 ms"


def test_without_a_ttl_the_expiry_figure_is_unknown_and_the_herds_the_same() -> None:
    stats = herd_stats(ROWS)
    assert stats["read_p99_after_expiry_ms"].isna().all()
    sizes = ["herd_size_p50", "herd_size_p99", "herd_size_max"]
    assert stats[sizes].equals(herd_stats(ROWS, ttl_s=1.0)[sizes])


def test_an_early_refresh_leaves_only_hits_at_the_would_be_expiry() -> None:
    """xfetch: the fill answered at 50 ms would expire at 1050; one reader refreshes at
    950 ms, 100 ms before, so the reads from 1050 on (and from the refresh's own expiry
    at 2000) are hits. Windows opened at the misses would hold both 50 ms misses."""
    hits = [("xfetch", "1", t, "redis", 1) for t in range(100, 2500, 100)]
    rows = reads(("xfetch", "1", 0, "miss", 50), ("xfetch", "1", 950, "miss", 50), *hits)
    stats = herd_stats(rows, ttl_s=1.0)
    assert stats.loc["xfetch", "herd_size_max"] == 1
    assert stats.loc["xfetch", "read_p99_after_expiry_ms"] == 1.0


def test_a_herd_at_expiry_lands_in_the_window() -> None:
    """delete: the fill answered at 50 ms expires at 1050, and three readers miss at once."""
    rows = reads(("delete", "1", 0, "miss", 50),
                 *[("delete", "1", t, "redis", 1) for t in range(100, 1001, 100)],
                 ("delete", "1", 1050, "miss", 50), ("delete", "1", 1052, "miss", 48),
                 ("delete", "1", 1055, "miss", 45), ("delete", "1", 1110, "redis", 1),
                 ("delete", "1", 1200, "redis", 1))  # fmt: skip
    stats = herd_stats(rows, ttl_s=1.0)
    assert stats.loc["delete", "herd_size_max"] == 3
    # [1050, 2050): the herd's 50, 48, 45 ms and two 1 ms hits; the herd's own refills
    # expire at 2100 ms, with no read after
    expected = pd.Series([50, 48, 45, 1, 1], dtype=float).quantile(0.99)
    assert stats.loc["delete", "read_p99_after_expiry_ms"] == pytest.approx(expected)


# swr: filled at 0 ms (answered at 50); past its soft TTL two runs of stale answers,
# each ended by a background refill that the rows do not show
SWR = reads(
    ("swr", "1", 0, "miss", 50),
    ("swr", "1", 500, "redis", 1),
    ("swr", "1", 1000, "redis", 1),
    ("swr", "1", 1100, "stale", 1),  # soft expiry: a window opens here
    ("swr", "1", 1110, "stale", 1),
    ("swr", "1", 1200, "redis", 1),
    ("swr", "1", 2300, "stale", 1),  # the refill's soft expiry: another window
    ("swr", "1", 2310, "stale", 1),
    ("swr", "1", 2400, "redis", 30),  # 1.3 s after the first run: in the second's window
    ("swr", "1", 3500, "redis", 1),  # 1.2 s after the second run: in none
)


def test_each_run_of_stale_answers_opens_a_window_at_its_first_read() -> None:
    moments = expiry_moments(SWR, pd.Series(1.0, index=SWR.index))
    assert moments["t_ns"].tolist() == [1050 * MS, 1100 * MS, 2300 * MS]
    # in the windows: 1100, 1110, 1200 (first run, and the fill's expiry at 1050),
    # 2300, 2310, 2400 (second run)
    expected = pd.Series([1, 1, 1, 1, 1, 30], dtype=float).quantile(0.99)
    p99 = herd_stats(SWR, ttl_s=1.0).loc["swr", "read_p99_after_expiry_ms"]
    assert p99 == pytest.approx(expected)


def test_a_ttl_column_in_the_rows_overrides_the_runs_ttl() -> None:
    """A sweep's rows carry their cell's TTL; a row without one falls back to the run's."""
    rows = reads(("delete", "1", 0, "miss", 50), ("delete", "1", 1100, "redis", 7))
    assert math.isnan(herd_stats(rows, ttl_s=30.0).loc["delete", "read_p99_after_expiry_ms"])
    per_row = herd_stats(rows.assign(ttl_s=1.0), ttl_s=30.0)
    assert per_row.loc["delete", "read_p99_after_expiry_ms"] == 7.0  # expired at 1050 ms
    unset = herd_stats(rows.assign(ttl_s=float("nan")), ttl_s=1.0)
    assert unset.loc["delete", "read_p99_after_expiry_ms"] == 7.0


def test_cold_keys_and_failed_reads_are_left_out() -> None:
    many = reads(*[("delete", "1", t, "redis", 1) for t in range(200)],
                 ("delete", "9", 300, "miss", 50))  # fmt: skip
    many.loc[len(many)] = {"strategy": "delete", "op": "read", "key": "1", "t_start_ns": 400 * MS,
                           "status": 503, "cache": "miss", "latency_ms": 5}  # fmt: skip
    assert herds(many).empty, "key 9 is under 1% of the reads; a 503 is no origin read"
    assert herd_stats(ROWS.iloc[:0]).empty
