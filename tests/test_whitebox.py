"""White-box times against the probe's brackets, from literal logs and probe rows; and a
real replica's log of what it applied."""

from pathlib import Path

import pandas as pd
import pytest

from bench.analysis.whitebox import load_invalidations, whitebox, whitebox_stats
from bench.report.write_visibility import whitebox_note
from tests.conftest import replica

ACK = 1_700_000_000_000_000_000
MS = 1_000_000


def probe_row(strategy: str, replica_name: str, lo_ms: float, hi_ms: float) -> dict:
    return {"strategy": strategy, "cycle": 0, "key": "1001", "writer": f"{strategy}-1",
            "replica": replica_name, "ack_ns": ACK, "convergence_ms": hi_ms,
            "convergence_lo_ms": lo_ms, "censored": False, "sent_ms": -3.0}  # fmt: skip


def events(*rows: tuple[str, float, str]) -> pd.DataFrame:
    """(replica, ms from the ack, event) for product 1001."""
    table = pd.DataFrame(
        [(r, ACK + round(ms * MS), e, "product:1001") for r, ms, e in rows],
        columns=["replica", "t_ns", "event", "key"],
    )
    return table.sort_values("t_ns")


def test_a_del_is_applied_between_its_send_and_redis_reply() -> None:
    probe = pd.DataFrame([probe_row("delete", "delete-2", -1.0, 0.5)])
    logs = events(("delete-1", -2.0, "del_sent"), ("delete-1", -1.8, "del_done"),
                  ("delete-1", -9.0, "del_sent"))  # before the write was sent  # fmt: skip
    [row] = whitebox(probe, logs).itertuples()
    assert (row.whitebox_lo_ms, row.whitebox_hi_ms) == (-2.0, -1.8)
    assert not row.inside, "fresh by Redis at -1.8 ms, yet a poll sent at -1.0 saw it stale"
    probe.loc[0, "convergence_lo_ms"] = -2.5
    [row] = whitebox(probe, logs).itertuples()
    assert row.inside


def test_with_a_local_tier_the_replica_is_fresh_once_its_own_copy_is_gone() -> None:
    probe = pd.DataFrame([probe_row("pubsub", "pubsub-2", 0.2, 1.5)])
    logs = events(("pubsub-1", -2.0, "del_sent"), ("pubsub-1", -1.9, "del_done"),
                  ("pubsub-1", -1.8, "local"),   # the writer's own drop
                  ("pubsub-2", 0.9, "local"))  # the message, heard  # fmt: skip
    table = whitebox(probe, logs)
    [row] = table.itertuples()
    assert (row.whitebox_lo_ms, row.whitebox_hi_ms) == (0.9, 0.9) and row.inside
    stats = whitebox_stats(table).loc["pubsub"]
    assert (stats["whitebox_rows"], stats["whitebox_outside"]) == (1, 0)
    assert stats["whitebox_p50_ms"] == pytest.approx(0.9)


def test_no_del_or_drop_logged_no_white_box_time() -> None:
    probe = pd.DataFrame([probe_row("versioned", "versioned-2", 0.0, 1.0)])
    assert whitebox(probe, events(("versioned-1", 0.1, "local"))).empty


async def test_a_replica_logs_when_it_applied_each_invalidation(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "invalidations").mkdir()
    path = tmp_path / "invalidations" / "pubsub-1.csv"
    async with replica("pubsub", redis_url, database_url, "pubsub-1",
                       invalidation_log=str(path)) as client:  # fmt: skip
        await client.get("/products/7")
        assert (await client.patch("/products/7", json={"price": 3.5})).status_code == 200
    logged = load_invalidations(tmp_path)
    mine = logged[logged["key"] == "product:7"]
    assert mine["event"].tolist()[:3] == ["del_sent", "del_done", "local"]
    assert set(logged["replica"]) == {"pubsub-1"}
    assert mine["t_ns"].is_monotonic_increasing


def test_the_report_says_when_and_whether_the_instrument_agrees() -> None:
    rows = [{"strategy": "pubsub", "whitebox_rows": 40, "whitebox_outside": 0,
             "whitebox_p50_ms": -0.83, "whitebox_p99_ms": 0.71},
            {"strategy": "delete", "whitebox_rows": 40, "whitebox_outside": 2,
             "whitebox_p50_ms": -0.5, "whitebox_p99_ms": -0.2},
            {"strategy": "versioned", "whitebox_rows": float("nan")}]  # fmt: skip
    [note] = whitebox_note(rows)
    assert "pubsub 0.83 ms before the ack (p50; p99 0.71 ms after the ack)" in note
    assert "all 40 inside the probe's bracket" in note
    assert "2 of 40 OUTSIDE the probe's bracket: an instrument fault" in note
    assert "versioned" not in note
