"""The probe's arithmetic on literal timestamps: the bracket around the moment each replica
turned fresh, relative to the write's acknowledgement, and the achieved poll interval."""

import pytest

from bench.probe.cycle import COLUMNS, Cycle, ReplicaWatch, cycle_rows

MS = 1_000_000  # ns


def rows_by_replica(cycle: Cycle) -> dict[str, dict[str, object]]:
    rows = cycle_rows("pubsub", ["a", "b", "c"], cycle)
    assert all(len(row) == len(COLUMNS) for row in rows)
    return {str(row[4]): dict(zip(COLUMNS, row, strict=True)) for row in rows}


def test_the_bracket_is_last_stale_send_to_first_fresh_answer_around_the_ack() -> None:
    sent, ack = 1_000 * MS, 1_003 * MS  # the write took 3 ms to come back
    cycle = Cycle(number=7, key=1003, writer=1, ack_ns=123, ack_perf=ack, sent_perf=sent)
    cycle.watches = [
        # fresh at its first poll, sent with the write: turned fresh in [send, answer]
        ReplicaWatch("http://a", first_fresh_answer=sent + 2 * MS, polls=1, sends=[sent]),
        ReplicaWatch(
            "http://b",  # stale until after the ack
            last_stale_send=ack + 2 * MS,
            first_fresh_answer=ack + 4 * MS + MS // 4,
            polls=4,
            sends=[sent, sent + 2 * MS, sent + 4 * MS, sent + 6 * MS],
        ),
        ReplicaWatch(
            "http://c",  # fresh before the writer's answer reached the probe
            last_stale_send=sent + MS,
            first_fresh_answer=sent + 2 * MS + MS // 2,
            polls=2,
            sends=[sent, sent + MS],
        ),
    ]
    rows = rows_by_replica(cycle)
    assert rows["a"]["convergence_ms"] == -1.0 and rows["a"]["convergence_lo_ms"] == -3.0
    assert rows["b"]["convergence_ms"] == 4.25 and rows["b"]["convergence_lo_ms"] == 2.0
    assert rows["c"]["convergence_ms"] == -0.5 and rows["c"]["convergence_lo_ms"] == -2.0
    for row in rows.values():
        assert (row["strategy"], row["cycle"], row["key"], row["writer"], row["ack_ns"]) == (
            "pubsub", 7, 1003, "b", 123,
        )  # fmt: skip
        assert row["censored"] is False
    assert [rows[name]["poll_interval_ms"] for name in "abc"] == ["", 2.0, 1.0]
    assert [rows[name]["polls"] for name in "abc"] == [1, 4, 2]


def test_a_replica_never_fresh_is_censored_with_no_upper_bound() -> None:
    cycle = Cycle(number=0, key=1001, writer=0, ack_perf=0, sent_perf=-MS)
    cycle.watches = [ReplicaWatch("http://a", last_stale_send=5 * MS, polls=3,
                                  sends=[0, 3 * MS, 5 * MS])]  # fmt: skip
    [row] = cycle_rows("ttl", ["a"], cycle)
    record = dict(zip(COLUMNS, row, strict=True))
    assert record["convergence_ms"] == "" and record["censored"] is True
    assert record["convergence_lo_ms"] == 5.0
    assert record["poll_interval_ms"] == pytest.approx(2.5)  # mean of the 3 ms and 2 ms gaps


def test_a_replica_that_failed_a_request_is_censored_and_says_how_often() -> None:
    sent, ack = 0, 2 * MS
    cycle = Cycle(number=3, key=1001, writer=0, ack_perf=ack, sent_perf=sent)
    cycle.watches = [
        # an error, then fresh: fresh when, is known; since when, is not
        ReplicaWatch("http://a", first_fresh_answer=5 * MS, polls=1, sends=[sent, 3 * MS],
                     errors=1),
        # stale, an error, then fresh: the stale poll still bounds it from below
        ReplicaWatch("http://b", last_stale_send=MS, first_fresh_answer=6 * MS, polls=2,
                     sends=[sent, MS, 4 * MS], errors=1),
        # no answer to the warm-up: skipped, never polled
        ReplicaWatch("http://c", errors=1, skipped=True),
    ]  # fmt: skip
    rows = rows_by_replica(cycle)
    assert [rows[n]["censored"] for n in "abc"] == [True, True, True]
    assert [rows[n]["errors"] for n in "abc"] == [1, 1, 1]
    assert (rows["a"]["convergence_ms"], rows["a"]["convergence_lo_ms"]) == (3.0, "")
    assert (rows["b"]["convergence_ms"], rows["b"]["convergence_lo_ms"]) == (4.0, -1.0)
    assert (rows["c"]["convergence_ms"], rows["c"]["convergence_lo_ms"]) == ("", "")
    assert (rows["c"]["polls"], rows["c"]["poll_interval_ms"]) == (0, "")


def test_a_failed_write_censors_every_row_and_bounds_none() -> None:
    cycle = Cycle(number=4, key=1002, writer=1, ack_perf=5 * MS, sent_perf=0,
                  failed="write: answered 307")  # fmt: skip
    cycle.watches = [
        ReplicaWatch("http://a", first_fresh_answer=MS, polls=1, sends=[0]),
        ReplicaWatch("http://b", polls=0, sends=[0], errors=1),
    ]
    for row in rows_by_replica(cycle).values():
        assert row["censored"] is True
        assert (row["convergence_ms"], row["convergence_lo_ms"]) == ("", "")
    assert [r["errors"] for r in rows_by_replica(cycle).values()] == [0, 1]
