"""The tuner and the repeat statistics on literal summary tables: answers one can check by hand."""

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.analysis.repeats import aggregate, interval, t_975, unsupported
from bench.analysis.tune import Budget, BudgetError, tune
from bench.report.tuning import choice_note, format_tuning, recommendations

BUDGET = Budget(max_stale_ms=100.0)


def row(
    strategy: str,
    ttl_s: float,
    hit: float,
    stale_p99: float,
    *,
    read_p99: float = 3.0,
    replicas: int = 2,
    repeat: int = 0,
    stale_reads: int | None = None,
    origin_rps: float = math.nan,
) -> dict[str, Any]:
    """One summary.csv row with the figures the tuner reads; NaN stale p99 = no stale read."""
    if stale_reads is None:
        stale_reads = 0 if math.isnan(stale_p99) else 12
    return dict(strategy=strategy, scenario="read_mostly", replicas=replicas, ttl_s=ttl_s,
                repeat=repeat, requests=6000, rps=300.0, reads=5700, stale_reads=stale_reads,
                stale_read_ratio=stale_reads / 5700, hit_ratio=hit, read_p99_ms=read_p99,
                stale_age_p99_ms=stale_p99, read_staleness_p99_ms=stale_p99,
                probe_convergence_p50_ms=1.0, origin_rps_mean=origin_rps)  # fmt: skip


def table(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def choice(tuning: Any, strategy: str, replicas: int = 2) -> Any:
    [found] = [c for c in tuning.choices if c.strategy == strategy and c.replicas == replicas]
    return found


def test_budget_met_takes_the_largest_ttl_within_it() -> None:
    summary = table(row("delete", 1, 0.60, 20.0), row("delete", 5, 0.80, 50.0),
                    row("delete", 30, 0.95, 400.0))  # fmt: skip
    tuning = tune(summary, BUDGET)
    delete = choice(tuning, "delete")
    assert delete.ttl_s == 5
    assert (delete.hit_ratio, delete.read_p99_ms, delete.staleness_p99_ms) == (0.80, 3.0, 50.0)
    assert choice_note(delete, BUDGET) == "at TTL 30 s: staleness p99 400 ms"
    assert recommendations(tuning) == [
        "recommendation: delete with TTL 5 s (hit ratio 80.0%, read p99 3.0 ms, staleness p99:"
        " 50 ms): the only strategy that keeps staleness p99 within 100 ms."
    ]


def test_largest_ttl_even_when_a_shorter_one_misses() -> None:
    """Stale age is not monotonic in TTL; the tuner takes the largest TTL that meets it."""
    summary = table(row("delete", 1, 0.6, 150.0), row("delete", 5, 0.8, 40.0),
                    row("delete", 30, 0.9, 90.0))  # fmt: skip
    delete = choice(tune(summary, BUDGET), "delete")
    assert delete.ttl_s == 30
    assert choice_note(delete, BUDGET) == (
        "the largest TTL measured: a longer one may meet the budget too; yet TTL 1 s missed it"
        " (staleness p99 150 ms): rare events, which repeats would show"
    )


def test_budget_not_met_says_so_with_the_nearest_miss() -> None:
    summary = table(row("ttl", 1, 0.7, 980.0), row("ttl", 5, 0.9, 4_900.0))
    tuning = tune(summary, BUDGET)
    ttl = choice(tuning, "ttl")
    assert ttl.ttl_s is None and math.isnan(ttl.hit_ratio)
    assert choice_note(ttl, BUDGET) == "no TTL meets it: staleness p99 980 ms at best (TTL 1 s)"
    [line] = recommendations(tuning)
    assert line.startswith("no recommendation: no strategy measured keeps staleness p99 within")
    text = format_tuning(tuning)
    assert "ttl       2         none" in text and "no recommendation" in text


def test_no_stale_read_meets_any_budget() -> None:
    summary = table(row("versioned", 1, 0.5, math.nan), row("versioned", 30, 0.7, math.nan))
    versioned = choice(tune(summary, Budget(0.001)), "versioned")
    assert versioned.ttl_s == 30
    assert versioned.staleness_p99_ms == 0.0 and versioned.stale_reads == 0


def test_a_cell_without_reads_never_meets_the_budget() -> None:
    empty = row("delete", 5, math.nan, math.nan) | {"reads": 0}
    delete = choice(tune(table(empty), BUDGET), "delete")
    assert delete.ttl_s is None and choice_note(delete, BUDGET) == "no reads measured"


def test_recommends_the_highest_hit_ratio_among_those_within_budget() -> None:
    summary = table(
        row("ttl", 1, 0.90, 950.0),  # the most hits, but far over budget
        row("delete", 30, 0.94, 12.0),
        row("pubsub", 30, 0.97, 1.5, read_p99=2.0),
    )
    tuning = tune(summary, BUDGET)
    [line] = recommendations(tuning)
    assert line.startswith("recommendation: pubsub with TTL 30 s (hit ratio 97.0%")
    assert "highest hit ratio of the 2 strategies" in line
    assert "next is delete at TTL 30 s with 94.0%" in line
    assert "intervals" not in line, "one repeat: no intervals to judge by"


def test_ties_on_hit_ratio_go_to_the_lower_origin_load() -> None:
    summary = table(row("delete", 30, 0.95, 10.0, read_p99=2.0, origin_rps=40.0),
                    row("pubsub", 30, 0.9502, 1.0, read_p99=3.0, origin_rps=20.0))  # fmt: skip
    [line] = recommendations(tune(summary, BUDGET))
    assert "pubsub with TTL 30 s" in line
    assert "ties with delete on hit ratio (95.0% against 95.0%: closer than 0.05 pp)" in line
    assert "lower origin load (20 against 40 origin reads/s)" in line
    assert "whether pubsub and delete differ beyond noise is not known" in line


def test_ties_on_hit_ratio_and_origin_load_go_to_the_lower_read_p99() -> None:
    summary = table(row("delete", 30, 0.95, 10.0, read_p99=3.0),
                    row("pubsub", 30, 0.9502, 1.0, read_p99=2.0))  # fmt: skip
    [line] = recommendations(tune(summary, BUDGET))
    assert "pubsub with TTL 30 s" in line
    assert "and origin load, and has the lower read p99 (2.0 against 3.0 ms)" in line


def test_a_full_tie_goes_to_the_sweeps_order() -> None:
    summary = table(row("pubsub", 5, 0.9, 10.0), row("delete", 5, 0.9, 1.0))
    [line] = recommendations(tune(summary, BUDGET))
    assert "pubsub with TTL 5 s" in line and "comes first in the sweep's order" in line


def test_min_hit_ratio_excludes_cells_and_says_how_close_they_came() -> None:
    summary = table(row("delete", 1, 0.60, 20.0), row("delete", 5, 0.80, 50.0),
                    row("pubsub", 1, 0.70, 2.0), row("pubsub", 5, 0.92, 3.0))  # fmt: skip
    tuning = tune(summary, Budget(100.0, min_hit_ratio=0.9))
    assert choice(tuning, "pubsub").ttl_s == 5
    delete = choice(tuning, "delete")
    assert delete.ttl_s is None
    assert (
        choice_note(delete, tuning.budget)
        == "no TTL meets it: within the other budgets, hit ratio 80.0% at best (TTL 5 s)"
    )
    assert "and hit ratio at least 90.0%" in recommendations(tuning)[0]


def test_max_origin_rps_binds_where_the_database_is_the_limit() -> None:
    summary = table(row("delete", 1, 0.60, 20.0, origin_rps=50.0),
                    row("delete", 5, 0.80, 50.0, origin_rps=20.0),
                    row("delete", 30, 0.95, 400.0, origin_rps=5.0),
                    row("pubsub", 1, 0.70, 2.0, origin_rps=40.0))  # fmt: skip
    tuning = tune(summary, Budget(100.0, max_origin_rps=30.0))
    assert choice(tuning, "delete").ttl_s == 5
    pubsub = choice(tuning, "pubsub")
    assert pubsub.ttl_s is None
    assert (
        choice_note(pubsub, tuning.budget)
        == "no TTL meets it: within the other budgets, 40 origin reads/s at best (TTL 1 s)"
    )
    assert "and at most 30 origin reads/s" in recommendations(tuning)[0]
    tight = tune(summary, Budget(100.0, max_origin_rps=10.0))
    assert choice_note(choice(tight, "delete"), tight.budget) == (
        "no TTL meets it: within the other budgets, 20 origin reads/s at best (TTL 5 s)"
    )
    unmeasured = tune(table(row("delete", 1, 0.6, 20.0)), Budget(100.0, max_origin_rps=10.0))
    assert "origin reads/s not measured" in choice_note(
        choice(unmeasured, "delete"), unmeasured.budget
    )


def test_with_repeats_the_intervals_unfavourable_end_decides() -> None:
    # 2 repeats: half-width = 12.706 x sd / sqrt(2); staleness at TTL 1 s: 25 +/- 63.5
    summary = table(
        row("delete", 1, 0.60, 20.0, repeat=0), row("delete", 1, 0.62, 30.0, repeat=1),
        row("delete", 5, 0.80, 50.0, repeat=0), row("delete", 5, 0.82, 70.0, repeat=1),
    )  # fmt: skip
    tuning = tune(summary, BUDGET)
    delete = choice(tuning, "delete")
    assert delete.ttl_s == 1, "TTL 5 s: every repeat within 100 ms, but not its interval"
    assert delete.hit_ratio == pytest.approx(0.61)  # the mean of the repeats
    assert delete.staleness_p99_ms == pytest.approx(25 + 12.706 * 5)  # the interval's upper end
    assert choice_note(delete, BUDGET) == (
        "at TTL 5 s: staleness p99 187 ms (upper end of the 95% interval over 2 repeats)"
    )
    assert "staleness p99 (interval's upper end)" in format_tuning(tuning)


def test_a_lead_inside_the_intervals_is_called_unsupported() -> None:
    summary = table(
        row("delete", 30, 0.90, 10.0, repeat=0), row("delete", 30, 0.94, 10.0, repeat=1),
        row("pubsub", 30, 0.93, 1.0, repeat=0), row("pubsub", 30, 0.95, 1.0, repeat=1),
    )  # fmt: skip
    [line] = recommendations(tune(summary, BUDGET))
    assert "pubsub with TTL 30 s" in line
    assert "a lead that the 95% intervals over 2 repeats do not support" in line


def test_one_line_per_replica_count() -> None:
    summary = table(
        row("delete", 5, 0.9, 10.0, replicas=2), row("delete", 5, 0.9, 300.0, replicas=4)
    )
    tuning = tune(summary, BUDGET)
    assert [c.ttl_s for c in tuning.choices] == [5, None]
    assert recommendations(tuning)[0].startswith("recommendation at 2 replicas: delete")
    assert recommendations(tuning)[1].startswith("no recommendation at 4 replicas")


def test_a_plain_run_summary_without_repeat_column() -> None:
    summary = table(row("delete", 30, 0.9, 10.0)).drop(columns="repeat")
    assert choice(tune(summary, BUDGET), "delete").ttl_s == 30


@pytest.mark.parametrize(("budget", "needle"), [((0.0,), "--max-stale-ms"),
                                                ((math.inf,), "--max-stale-ms"),
                                                ((math.nan,), "--max-stale-ms"),
                                                ((100.0, math.nan), "--min-hit-ratio"),
                                                ((100.0, 1.5), "--min-hit-ratio"),
                                                ((100.0, None, 0.0), "--max-origin-rps"),
                                                ((100.0, None, math.inf),
                                                 "--max-origin-rps")])  # fmt: skip
def test_budget_is_checked(budget: tuple, needle: str) -> None:
    with pytest.raises(BudgetError, match=needle):
        Budget(*budget)


def test_interval_is_students_t_over_the_repeats() -> None:
    mean, half = interval(pd.Series([1.0, 2.0, 3.0]))
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3))
    assert math.isnan(interval(pd.Series([5.0]))[1]), "one repeat: no interval"
    assert math.isnan(interval(pd.Series([1.0, math.inf]))[1])
    assert t_975(30) == 2.042 and t_975(60) == pytest.approx(2.0003, abs=1e-3)


def test_unsupported_marks_overlaps_with_the_best() -> None:
    # three repeats each: half-width = t(2 df) x sd / sqrt(3) = 4.303 x 0.01 / 1.732 = 0.025
    summary = table(*(
        row(strategy, 5, hit, stale, repeat=repeat)
        for strategy, hits, stale in (("ttl", (0.95, 0.96, 0.97), 900.0),
                                      ("delete", (0.80, 0.81, 0.82), 9.0),
                                      ("pubsub", (0.94, 0.95, 0.96), 1.0))
        for repeat, hit in enumerate(hits)
    ))  # fmt: skip
    cells = aggregate(summary)
    marks = dict(zip(cells["strategy"], unsupported(cells, "hit_ratio"), strict=True))
    assert marks == {"ttl": True, "pubsub": True, "delete": False}
    stale = dict(zip(cells["strategy"], unsupported(cells, "stale_age_p99_ms"), strict=True))
    assert not any(stale.values()), "identical repeats: zero-width intervals, all apart"


def test_cli_tune_prints_the_verdict(tmp_path: Path) -> None:
    table(row("delete", 1, 0.6, 20.0), row("delete", 5, 0.8, 500.0)).to_csv(
        tmp_path / "summary.csv", index=False
    )
    argv = [sys.executable, "-m", "bench", "tune", str(tmp_path), "--max-stale-ms", "100"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "recommendation: delete with TTL 1 s" in done.stdout


@pytest.mark.parametrize(("args", "needle"), [(["--max-stale-ms", "0"], "--max-stale-ms"),
                                              (["--max-stale-ms", "9", "--min-hit-ratio", "2"],
                                               "--min-hit-ratio"),
                                              (["--max-stale-ms", "9", "--max-origin-rps", "-1"],
                                               "--max-origin-rps")])  # fmt: skip
def test_cli_tune_bad_input_exits_2(tmp_path: Path, args: list[str], needle: str) -> None:
    table(row("delete", 1, 0.6, 20.0)).to_csv(tmp_path / "summary.csv", index=False)
    for folder, expect in ((tmp_path, needle), (tmp_path / "nowhere", "no summary.csv")):
        done = subprocess.run([sys.executable, "-m", "bench", "tune", str(folder), *args],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expect in lines[0]
