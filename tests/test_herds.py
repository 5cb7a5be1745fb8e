"""Herds counted from hand-made read rows: where they open and close, and what they cost."""

import pandas as pd
import pytest

from bench.analysis.herds import herd_stats, herds

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
    stats = herd_stats(ROWS)
    delete = stats.loc["delete"]
    assert delete["herd_size_max"] == 3 and delete["herd_size_p50"] == 1
    # key 1's reads within 1 s of a herd: 50, 50, 48, 1 (first herd), 50, 1 (second);
    # key 2's: 50, 1. The p99 of those eight
    expected = pd.Series([50, 50, 48, 1, 50, 1, 50, 1], dtype=float).quantile(0.99)
    assert delete["read_p99_after_expiry_ms"] == pytest.approx(expected)
    assert stats.loc["lease", "herd_size_max"] == 1


def test_cold_keys_and_failed_reads_are_left_out() -> None:
    many = reads(*[("delete", "1", t, "redis", 1) for t in range(200)],
                 ("delete", "9", 300, "miss", 50))  # fmt: skip
    many.loc[len(many)] = {"strategy": "delete", "op": "read", "key": "1", "t_start_ns": 400 * MS,
                           "status": 503, "cache": "miss", "latency_ms": 5}  # fmt: skip
    assert herds(many).empty, "key 9 is under 1% of the reads; a 503 is no origin read"
    assert herd_stats(ROWS.iloc[:0]).empty
