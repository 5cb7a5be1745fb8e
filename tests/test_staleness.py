"""The staleness checker on small literal histories, answers worked out by hand.

Times are written in ms since an arbitrary origin and converted to ns, as recorded.
Every history is one strategy ("s") unless a test says otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis.staleness import check_staleness, nines, t_visibility
from bench.report.numbers import format_share
from bench.report.run import visibility_sentence

MS = 1_000_000  # ns
GROUP = ["strategy"]


def history(*rows: tuple) -> pd.DataFrame:
    """Rows of (op, key, start_ms, end_ms, version_or_items[, status[, strategy]])."""
    records = []
    for op, key, start_ms, end_ms, answer, *rest in rows:
        status = rest[0] if rest else 200
        strategy = rest[1] if len(rest) > 1 else "s"
        records.append(
            {
                "strategy": strategy,
                "op": op,
                "key": str(key),
                "t_start_ns": int(start_ms * MS),
                "t_end_ns": int(end_ms * MS),
                "latency_ms": float(end_ms - start_ms),
                "status": status,
                "version": None if op == "list" else answer,
                "items": answer if op == "list" else "",
                "cache": "redis",
                "replica": "r1",
                "worker": "w",
            }
        )
    frame = pd.DataFrame(records)
    frame["version"] = frame["version"].astype("Int64")
    return frame


def verdicts(frame: pd.DataFrame) -> list[tuple[bool, float | None]]:
    """(stale, stale age ms or None) per successful read, in input order."""
    reads = check_staleness(frame, GROUP)
    return [
        (bool(stale), None if math.isnan(age) else round(age, 6))
        for stale, age in zip(reads["stale"], reads["stale_age_ms"], strict=True)
    ]


def test_read_sent_before_the_ack_is_concurrent_not_stale() -> None:
    frame = history(
        ("write", 1, 10, 20, 2),
        ("read", 1, 15, 16, 1),  # sent while the write was in flight
        ("read", 1, 20, 21, 1),  # sent at the very instant of the ack: not after it
    )
    assert verdicts(frame) == [(False, None), (False, None)]


def test_old_version_after_the_ack_is_stale_from_the_ack() -> None:
    frame = history(("write", 1, 10, 20, 2), ("read", 1, 25, 26, 1))
    assert verdicts(frame) == [(True, 5.0)]


def test_new_version_after_the_ack_is_fresh() -> None:
    frame = history(("write", 1, 10, 20, 2), ("read", 1, 25, 26, 2), ("read", 1, 25, 26, 3))
    assert verdicts(frame) == [(False, None), (False, None)]


def test_age_counts_from_the_earliest_newer_ack_even_out_of_version_order() -> None:
    # v2 committed first but its ack arrived at 50; v3's ack arrived at 30.
    frame = history(
        ("write", 1, 10, 50, 2),
        ("write", 1, 20, 30, 3),
        ("read", 1, 40, 41, 1),  # v3 acked (30), v2 not yet: 40 - 30
        ("read", 1, 60, 61, 1),  # both acked, earliest 30: 60 - 30
        ("read", 1, 40, 41, 2),  # older than v3 (acked 30): 40 - 30
        ("read", 1, 60, 61, 3),  # the newest: fresh
    )
    assert verdicts(frame) == [(True, 10.0), (True, 30.0), (True, 10.0), (False, None)]


def test_intermediate_version_is_stale_only_after_the_later_write() -> None:
    frame = history(
        ("write", 1, 0, 10, 2),
        ("write", 1, 100, 110, 3),
        ("read", 1, 50, 51, 2),  # v2 is the newest acked then: fresh
        ("read", 1, 120, 121, 2),  # v3 acked at 110: 120 - 110
        ("read", 1, 120, 121, 1),  # v2 acked at 10 is the earliest newer ack: 120 - 10
    )
    assert verdicts(frame) == [(False, None), (True, 10.0), (True, 110.0)]


def test_writes_to_another_key_or_strategy_do_not_count() -> None:
    frame = history(
        ("write", 2, 0, 10, 5),
        ("write", 1, 0, 10, 2, 200, "other"),
        ("read", 1, 20, 21, 1),
        ("read", 1, 20, 21, 1, 200, "other"),  # the same read in the other strategy is stale
        ("list", "c1", 30, 31, "1:1 2:5"),
        ("list", "c1", 30, 31, "1:1 2:5", 200, "other"),  # the same body: stale there
    )
    reads = check_staleness(frame, GROUP)
    assert reads["strategy"].tolist() == ["s", "other", "s", "other"]
    assert reads["stale"].tolist() == [False, True, False, True]
    assert reads["stale_age_ms"].iloc[[1, 3]].tolist() == pytest.approx([10.0, 20.0])


def test_a_key_beyond_64_bits_is_no_product_and_stops_nothing() -> None:
    """A key too large for a product id (a 404 of a hostile request, or one a service
    answered) names no product: its writes index nothing, its reads are fresh."""
    frame = history(
        ("write", 1, 0, 10, 2),
        ("write", "1e30", 0, 10, 9),
        ("read", "9223372036854775807", 20, 21, 1),
        ("read", "-1e19", 20, 21, 1, 404),
        ("read", "1e30", 20, 21, 1),
        ("read", 1, 20, 21, 1),  # stale: the keys above never touch product 1
    )
    assert verdicts(frame) == [(False, None), (False, None), (True, 10.0)]


def test_failed_requests_are_ignored() -> None:
    frame = history(
        ("write", 1, 0, 10, 2, 500),  # failed: whether it committed is unknown
        ("write", 1, 0, 10, None, 0),  # no answer at all
        ("read", 1, 20, 21, 1),  # so this read is not judged stale
        ("read", 1, 20, 21, None, 0),  # a failed read is no read
        ("read", 1, 20, 21, None, 404),
    )
    assert verdicts(frame) == [(False, None)]


def test_a_read_whose_answer_did_not_read_is_neither_fresh_nor_stale() -> None:
    """A 2xx without a version (unparseable), or given up: no verdict, never a fresh one;
    a write whose answer had no version is not indexed either."""
    frame = history(
        ("write", 1, 0, 10, 2),
        ("read", 1, 20, 21, None),  # unparseable: no version
        ("list", "c0", 20, 21, ""),  # unparseable: no items
        ("read", 1, 20, 21, 1),  # stale: a verdict
        ("write", 2, 30, 31, None),  # a write's answer without its version
        ("read", 2, 40, 41, 1),  # fresh: no write of product 2 is known
        ("read", 1, 20, 10_020, None, 0),  # a timeout
    )
    frame["error"] = ["", "unparseable", "unparseable", "", "unparseable", "", "timeout"]
    assert verdicts(frame) == [(True, 10.0), (False, None)]
    assert check_staleness(frame, GROUP)["error"].tolist() == ["", ""]


def test_list_is_checked_item_by_item_and_aged_by_its_stalest_item() -> None:
    frame = history(
        ("write", 1, 0, 10, 2),
        ("write", 2, 0, 5, 3),
        ("write", 3, 0, 30, 2),
        ("list", "c1", 40, 41, "1:1 2:3 3:1"),  # items 1 (40-10) and 3 (40-30) stale
        ("list", "c1", 20, 21, "1:1 2:3 3:1"),  # item 1 (20-10); item 3 not acked yet
        ("list", "c1", 40, 41, "1:2 2:3 3:2"),  # every item current
        ("list", "c1", 40, 41, ""),  # an empty category
    )
    assert verdicts(frame) == [(True, 30.0), (True, 10.0), (False, None), (False, None)]


def test_a_lists_malformed_items_are_skipped_not_guessed() -> None:
    frame = history(
        ("write", 5, 0, 10, 2),
        ("write", 6, 0, 10, 8),
        ("list", "c1", 40, 41, "5: 6:7 x"),  # "5:" and "x" skipped; 6 at v7 is stale
        ("list", "c1", 40, 41, "5:1x 6:8"),  # "5:1x" skipped, stale as it would be; 6 current
    )
    assert verdicts(frame) == [(True, 30.0), (False, None)]


def test_a_read_of_any_version_finds_the_earliest_newer_ack_written_or_not() -> None:
    """Versions below, between, at and above the written ones: v3's write failed (its
    outcome unknown, so no ack), yet a replica may serve v3."""
    frame = history(
        ("write", 1, 0, 10, 2),
        ("write", 1, 12, 18, 3, 500),
        ("write", 1, 20, 30, 4),
        ("read", 1, 15, 16, 1),  # below every written version: v2's ack, 5 ms before
        ("read", 1, 25, 26, 3),  # no answered write made v3; v4 not acked yet
        ("read", 1, 40, 41, 3),  # v4 acked at 30
        ("read", 1, 35, 36, 2),  # a written version: the ack of a higher one, v4's
        ("read", 1, 50, 51, 4),  # the highest written
        ("read", 1, 50, 51, 5),  # above it: a write whose answer was lost
        ("read", 2, 50, 51, 1),  # a product never written
    )
    assert verdicts(frame) == [(True, 5.0), (False, None), (True, 10.0), (True, 5.0),
                               (False, None), (False, None), (False, None)]  # fmt: skip


def test_since_write_and_in_flight_use_the_newest_ack_before_the_read() -> None:
    frame = history(
        ("write", 1, 100, 110, 2),
        ("write", 1, 500, 510, 3),
        ("read", 1, 50, 51, 1),  # before any write
        ("read", 1, 300, 301, 2),  # 300 - 110
        ("read", 1, 505, 506, 2),  # v3 in flight
        ("read", 1, 520, 521, 3),  # 520 - 510 (the newest ack, not the first)
    )
    reads = check_staleness(frame, GROUP)
    since = reads["since_write_ms"].tolist()
    assert math.isnan(since[0])
    assert since[1:] == pytest.approx([190.0, 395.0, 10.0])
    assert reads["write_in_flight"].tolist() == [False, False, True, False]


def test_a_read_sent_at_an_ack_or_a_start_sees_the_write_in_flight_not_before_it() -> None:
    frame = history(
        ("write", 1, 100, 110, 2),
        ("write", 1, 500, 510, 3),
        ("read", 1, 110, 111, 2),  # sent as v2's ack came: in flight, not after it
        ("read", 1, 500, 501, 2),  # sent as v3's write was: in flight, 500 - 110 after v2
    )
    reads = check_staleness(frame, GROUP)
    since = reads["since_write_ms"].tolist()
    assert math.isnan(since[0]) and since[1] == pytest.approx(390.0)
    assert reads["write_in_flight"].tolist() == [True, True]


def test_verdicts_hold_when_times_are_too_far_apart_for_offsets() -> None:
    """Far-apart times (a write a century later, a version at int64's end) make the
    checker search by rank, not offset (`bench.analysis.reference`): same verdicts."""
    near = history(
        ("write", 1, 100, 110, 2),
        ("write", 1, 500, 510, 3),
        ("read", 1, 50, 51, 1),
        ("read", 1, 300, 301, 1),  # stale since 110
        ("read", 1, 505, 506, 1),  # v3 in flight, stale since 110
        ("read", 1, 520, 521, 3),
        ("read", 1, 600, 601, 2**63 - 1),  # above every version written
    )
    century_ms = 100 * 365 * 86_400_000
    far = pd.concat([near, history(("write", 2, century_ms, century_ms + 1, 1))],
                    ignore_index=True)  # fmt: skip
    for frame in (near, far):
        reads = check_staleness(frame, GROUP)
        product_1 = reads[reads["key"] == "1"]
        assert verdicts(frame)[:5] == [(False, None), (True, 190.0), (True, 395.0),
                                       (False, None), (False, None)]  # fmt: skip
        since = product_1["since_write_ms"].tolist()
        assert math.isnan(since[0]) and since[1:] == pytest.approx([190.0, 395.0, 10.0, 90.0])
        assert product_1["write_in_flight"].tolist() == [False, False, True, False, False]


# t-visibility: product 1 written at 100..110; product 2 at 100..110 and 500..510.
VISIBILITY = history(
    ("write", 1, 100, 110, 2),
    ("write", 2, 100, 110, 2),
    ("write", 2, 500, 510, 3),
    ("read", 1, 105, 106, 1),  # in flight: left out
    ("read", 3, 200, 201, 1),  # never written: left out
    ("list", "c1", 300, 301, "1:1"),  # a list: left out
    ("read", 1, 111, 112, 1),  # since 1 ms, stale
    ("read", 1, 115, 116, 2),  # since 5 ms, fresh
    ("read", 1, 130, 131, 1),  # since 20 ms, stale
    ("read", 1, 200, 201, 2),  # since 90 ms, fresh
    ("read", 1, 300, 301, 2),  # since 190 ms, fresh
    ("read", 1, 1200, 1201, 2),  # since 1090 ms, fresh
    ("read", 1, 20110, 20111, 2),  # since 20000 ms, fresh
    ("read", 2, 505, 506, 2),  # in flight (v3): left out
    ("read", 2, 520, 521, 3),  # since 10 ms (from 510), fresh
    ("read", 2, 520, 521, 2),  # since 10 ms, stale
)


def test_t_visibility_on_a_hand_built_history() -> None:
    table = t_visibility(check_staleness(VISIBILITY, GROUP), GROUP)
    assert table.columns.tolist() == ["strategy", "t_ms", "reads", "fresh_share", "nines"]
    assert table["t_ms"].tolist() == [0.0, 10.0, 100.0, 1000.0, 10000.0]
    assert table["reads"].tolist() == [9, 7, 3, 2, 1]
    assert table["fresh_share"].tolist() == pytest.approx([6 / 9, 5 / 7, 1.0, 1.0, 1.0])
    assert table["nines"].iloc[1] == pytest.approx(-math.log10(2 / 7))
    assert table["nines"].iloc[2:].tolist() == [math.inf] * 3


def test_t_visibility_of_a_group_without_writes_has_no_reads() -> None:
    table = t_visibility(check_staleness(history(("read", 1, 0, 1, 1)), GROUP), GROUP)
    assert table["reads"].tolist() == [0] * 5
    assert table["fresh_share"].isna().all()
    assert table["nines"].isna().all()


def test_nines_and_sentences() -> None:
    assert nines(0.999) == pytest.approx(3.0)
    assert nines(1.0) == math.inf
    assert math.isnan(nines(math.nan))
    shares = (0.999, 0.9995, 0.95, 0.99996, 0.99949, 1.0)
    assert [format_share(s) for s in shares] == [
        "99.9%",
        "99.95%",
        "95%",
        "99.996%",
        "99.94%",  # truncated, never rounded up
        "100%",
    ]
    assert visibility_sentence(100, 0.999, 1000) == "99.9% of reads fresh 100 ms after a write"
    assert visibility_sentence(1000, 1.0, 5) == "all reads fresh 1 s after a write"
    assert visibility_sentence(10000, math.nan, 0) == "no reads 10 s after a write"


def test_reads_keep_their_columns_and_order() -> None:
    reads = check_staleness(VISIBILITY, GROUP)
    assert len(reads) == 13
    assert {"stale", "stale_age_ms", "since_write_ms", "write_in_flight"} <= set(reads.columns)
    assert np.all(reads["op"].isin(["read", "list"]))
