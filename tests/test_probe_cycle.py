"""The probe's arithmetic on literal timestamps: the bracket around the moment each replica
turned fresh, relative to the write's acknowledgement, and the achieved poll interval."""

import pytest

from bench.probe.cycle import COLUMNS, Cycle, ReplicaWatch, cycle_rows

MS = 1_000_000  # ns


def rows_by_replica(cycle: Cycle) -> dict[str, dict[str, object]]:
    rows = cycle_rows("pubsub", ["a", "b", "c"], cycle)
    assert all(len(row) == len(COLUMNS) for row in rows)
    return {str(row[4]): dict(zip(COLUMNS, row, strict=True)) for row in rows}


def test_the_bracket_is_last_stale_send_to_first_fresh_answer_after_the_ack() -> None:
    ack = 1_000 * MS
    cycle = Cycle(number=7, key=1003, writer=1, ack_ns=123, ack_perf=ack,
                  round_starts=[ack, ack + 2 * MS, ack + 4 * MS])  # fmt: skip
    cycle.watches = [
        ReplicaWatch("http://a", first_fresh_answer=ack + MS // 2, polls=1),  # fresh at once
        ReplicaWatch(
            "http://b",
            last_stale_send=ack + 2 * MS,
            first_fresh_answer=ack + 4 * MS + MS // 4,
            polls=3,
        ),
        ReplicaWatch(
            "http://c",
            last_stale_send=ack - MS,  # stale only before the ack
            first_fresh_answer=ack + MS,
            polls=2,
        ),
    ]
    rows = rows_by_replica(cycle)
    assert rows["a"]["convergence_ms"] == 0.5 and rows["a"]["convergence_lo_ms"] == 0.0
    assert rows["b"]["convergence_ms"] == 4.25 and rows["b"]["convergence_lo_ms"] == 2.0
    assert rows["c"]["convergence_ms"] == 1.0
    assert rows["c"]["convergence_lo_ms"] == 0.0  # clamped: nothing stale after the ack
    for row in rows.values():
        assert (row["strategy"], row["cycle"], row["key"], row["writer"], row["ack_ns"]) == (
            "pubsub", 7, 1003, "b", 123,
        )  # fmt: skip
        assert row["poll_interval_ms"] == 2.0 and row["censored"] is False
    assert [rows[name]["polls"] for name in "abc"] == [1, 3, 2]


def test_a_replica_never_fresh_is_censored_with_no_upper_bound() -> None:
    cycle = Cycle(number=0, key=1001, writer=0, ack_perf=0, round_starts=[0, 3 * MS, 5 * MS])
    cycle.watches = [ReplicaWatch("http://a", last_stale_send=5 * MS, polls=3)]
    [row] = cycle_rows("ttl", ["a"], cycle)
    record = dict(zip(COLUMNS, row, strict=True))
    assert record["convergence_ms"] == "" and record["censored"] is True
    assert record["convergence_lo_ms"] == 5.0
    assert record["poll_interval_ms"] == pytest.approx(2.5)  # mean of the 3 ms and 2 ms gaps


def test_one_round_has_no_interval() -> None:
    cycle = Cycle(number=0, key=1001, writer=0, ack_perf=0, round_starts=[0])
    cycle.watches = [ReplicaWatch("http://a", first_fresh_answer=MS, polls=1)]
    [row] = cycle_rows("delete", ["a"], cycle)
    assert dict(zip(COLUMNS, row, strict=True))["poll_interval_ms"] == ""
