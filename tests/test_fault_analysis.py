"""Attribution, recovery and the timeline on literal tables worked out by hand."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.faults import attribute, fault_effects, windows
from bench.analysis.herds import herd_stats
from bench.analysis.staleness import check_staleness
from bench.analysis.summary import analyse
from bench.analysis.timeline import origin_load, origin_reads_per_second, timeline
from scenarios.request_rows import COLUMNS
from tests.test_report import manifest

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def request(op: str, key: str, start_ms: float, end_ms: float, status: int = 200,
            version: int | None = 1, cache: str = "redis") -> list:  # fmt: skip
    return ["delete", op, key, T0 + round(start_ms * MS), T0 + round(end_ms * MS),
            end_ms - start_ms, status, version, "", cache, "r1", "w",
            float("nan"), pd.NA, ""]  # fmt: skip


# fmt: off
REQUESTS = pd.DataFrame([
    request("write", "1", 90, 100, version=2),      # acked at 100: inside the fault
    request("read", "1", 150, 151),                   # stale 50 ms: the fault's
    request("read", "1", 200, 201, status=0, version=None),  # an error during the fault
    request("write", "2", 390, 400, version=2),     # acked at 400: after the fault
    request("read", "2", 500, 501),                   # stale 100 ms: the strategy's own
    request("read", "1", 900, 901),                   # stale 800 ms: the fault's, the last
    request("read", "1", 1200, 1201, version=2, cache="miss"),  # fresh
], columns=list(COLUMNS)).astype({"version": "Int64"})
FAULTS = pd.DataFrame([
    ["delete", "redis-partition", 1.0, 0.05, 0.25, T0 + 50 * MS, T0 + 300 * MS, "applied"],
    ["delete", "subscriber-drop", math.nan, 0.5, math.nan, pd.NA, pd.NA, "not applicable"],
], columns=["strategy", "kind", "arg", "at_s", "for_s", "started_ns", "ended_ns", "status"]
).astype({"started_ns": "Int64", "ended_ns": "Int64"})  # as load_faults reads faults.csv
# fmt: on


def reads() -> pd.DataFrame:
    return check_staleness(REQUESTS.assign(items=""), ["strategy"])


def test_a_stale_read_is_the_faults_when_the_write_it_missed_was_acked_inside() -> None:
    verdicts = reads()
    owner = attribute(verdicts, windows(FAULTS))
    by_start = dict(zip((verdicts["t_start_ns"] - T0) // MS, owner, strict=True))
    assert by_start == {150: 0, 500: -1, 900: 0, 1200: -1}


def test_fault_effects_count_recovery_and_errors() -> None:
    effects, owner = fault_effects(REQUESTS, reads(), FAULTS)
    partition, drop = effects.to_dict("records")
    assert partition["fault"] == "redis-partition@0.05+0.25:1"
    assert (partition["stale_reads"], partition["oldest_stale_age_ms"]) == (2, 800.0)
    assert partition["last_stale_after_end_ms"] == 600.0  # 900 ms - the end at 300 ms
    assert (partition["errors"], partition["requests"]) == (1, 3)  # sent in [50, 300] ms
    # on the timeline's clock: second 0 is the first request, at 90 ms
    assert (partition["window_start_s"], partition["window_end_s"]) == (-0.04, 0.21)
    assert (drop["status"], drop["stale_reads"]) == ("not applicable", 0)
    assert math.isnan(drop["last_stale_after_end_ms"])
    assert (owner >= 0).sum() == 2


def test_a_one_shot_fault_gets_a_one_second_window() -> None:
    drop = FAULTS.iloc[[0]].assign(kind="subscriber-drop", for_s=math.nan, arg=math.nan)
    window = windows(drop).iloc[0]
    assert window["window_end_ns"] - window["window_start_ns"] == 1_000_000_000
    assert window["fault"] == "subscriber-drop@0.05"


def test_the_timeline_counts_each_second_and_reads_restarts_as_restarts() -> None:
    late = pd.DataFrame([request("read", "1", 2100, 2101, version=2, cache="local")],
                        columns=list(COLUMNS))  # fmt: skip
    requests = pd.concat([REQUESTS, late]).astype({"version": "Int64"}).reset_index(drop=True)
    s = 1_000_000_000
    metrics = pd.DataFrame({
        "t_ns": [T0 + 90 * MS, T0 + 90 * MS + s, T0 + 90 * MS + 2 * s,
                 T0 + 95 * MS, T0 + 95 * MS + s, T0 + 95 * MS + 2 * s],
        "replica": ["r1"] * 3 + ["r2"] * 3,
        "sample": ["origin_reads_total"] * 6,
        "value": [10.0, 14.0, 20.0, 50.0, 3.0, 5.0],  # r2 restarted: 50 -> 3 counts as 3
        "strategy": ["delete"] * 6,
    })  # fmt: skip
    table = timeline(requests, check_staleness(requests.assign(items=""), ["strategy"]), metrics)
    assert table["second"].tolist() == [0, 1, 2]
    # second 0 runs from the first request (90 ms): 6 requests, 1 error, 3 reads, all stale
    assert table["requests"].tolist() == [6, 1, 1] and table["errors"].tolist() == [1, 0, 0]
    assert table["reads"].tolist() == [3, 1, 1] and table["stale_reads"].tolist() == [3, 0, 0]
    assert table["hit_ratio"].tolist() == [1.0, 0.0, 1.0]
    # a replica's first scrape has no rate; r2 restarted (50 -> 3): 3 reads, not -47
    assert np.isnan(table.iloc[0]["origin_reads_per_s"])
    assert table["origin_reads_per_s"].tolist()[1:] == [4 + 3, 6 + 2]


def test_a_stale_answer_counts_as_a_hit_in_its_second() -> None:
    """Stale-while-revalidate's `stale` answer came from Redis: a hit, as `redis` is."""
    requests = pd.DataFrame([request("read", "1", 0, 1, cache="stale"),
                             request("read", "1", 2, 3, cache="miss"),
                             request("read", "1", 4, 5, cache="stale")],
                            columns=list(COLUMNS)).astype({"version": "Int64"})  # fmt: skip
    no_metrics = pd.DataFrame(columns=["t_ns", "replica", "sample", "value", "strategy"])
    verdicts = check_staleness(requests.assign(items=""), ["strategy"])
    assert timeline(requests, verdicts, no_metrics)["hit_ratio"].tolist() == [pytest.approx(2 / 3)]


def test_origin_load_is_a_rate_so_drifting_scrapes_do_not_double_a_peak() -> None:
    """Scrapes every ~1 s drift against the clock's seconds: two that land in one second
    must average their rates there, not add their counts (a false doubled peak)."""
    s = 1_000_000_000
    t0 = pd.Series({"delete": T0})
    metrics = pd.DataFrame({
        "t_ns": [T0 + 100 * MS, T0 + s + 50 * MS, T0 + s + 950 * MS, T0 + 2 * s + 950 * MS],
        "replica": ["r1"] * 4, "sample": ["origin_reads_total"] * 4,
        "value": [0.0, 95.0, 185.0, 235.0], "strategy": ["delete"] * 4,
    })  # fmt: skip
    table = origin_reads_per_second(metrics, t0)
    assert table["second"].tolist() == [1, 2]
    # 95 reads in 0.95 s, then 90 in 0.9 s: 100/s both, not 185 in second 1
    assert table["origin_reads_per_s"].tolist() == pytest.approx([100.0, 50.0])
    load = origin_load(table).loc["delete"]
    assert load["origin_rps_peak"] == pytest.approx(100.0)
    assert load["origin_rps_mean"] == pytest.approx(75.0)


def test_the_timeline_of_a_request_a_month_later_has_just_the_seconds_that_saw_requests() -> None:
    """Seconds are counted per (strategy, second) pair in use: a clock that jumped a
    month must not make a row (or an array cell) for every second between."""
    month_ms = 30 * 86_400_000
    late = pd.DataFrame([request("read", "1", month_ms, month_ms + 1, version=2, cache="miss")],
                        columns=list(COLUMNS))  # fmt: skip
    requests = pd.concat([REQUESTS, late]).astype({"version": "Int64"}).reset_index(drop=True)
    no_metrics = pd.DataFrame(columns=["t_ns", "replica", "sample", "value", "strategy"])
    verdicts = check_staleness(requests.assign(items=""), ["strategy"])
    table = timeline(requests, verdicts, no_metrics)
    last = (month_ms - 90) // 1000  # seconds from the first request, at 90 ms
    assert table["second"].tolist() == [0, 1, last]
    assert table["requests"].tolist() == [6, 1, 1] and table["reads"].tolist() == [3, 1, 1]
    assert table["hit_ratio"].tolist() == [1.0, 0.0, 0.0]


def test_without_the_faults_a_keys_share_is_of_the_reads_that_remain(tmp_path: Path) -> None:
    """Key 7 has 2 of 201 reads, under the 1 % that makes a key hot; with the fault's two
    stale reads left out it has 2 of 199, and its herd of two counts, as `herd_stats` of
    the remaining reads finds it."""
    rows = [request("write", "1", 90, 100, version=2),  # acked inside the fault
            request("read", "1", 150, 151), request("read", "1", 160, 161),  # the fault's
            request("read", "1", 400, 401, version=2, cache="miss"),
            *(request("read", "1", 410 + i, 411 + i, version=2) for i in range(196)),
            request("read", "7", 1000, 1050, cache="miss"),  # a herd of two
            request("read", "7", 1010, 1060, cache="miss")]  # fmt: skip
    folder = tmp_path / "run"
    (folder / "requests").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(manifest(("delete",), "complete", None)))
    requests = pd.DataFrame(rows, columns=list(COLUMNS)).astype({"version": "Int64"})
    requests.to_csv(folder / "requests" / "h-1.csv", index=False)
    FAULTS.iloc[:1].to_csv(folder / "faults.csv", index=False)

    analysis = analyse(folder)
    whole = analysis.summary.set_index("strategy").loc["delete"]
    own = analysis.summary_without_faults.set_index("strategy").loc["delete"]
    assert whole["herd_size_max"] == 1 and own["herd_size_max"] == 2
    checked = check_staleness(requests.assign(items=""), ["strategy"])
    remaining = checked[attribute(checked, windows(FAULTS.iloc[:1])) < 0]
    expected = herd_stats(remaining, 30.0).loc["delete"]
    assert own[expected.index].tolist() == pytest.approx(expected.tolist(), nan_ok=True)
