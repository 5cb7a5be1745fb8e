"""The budget's judgement, the pick rule and the report's opening, on literal rows: answers
one can check by hand."""

import math
from pathlib import Path
from typing import Any

import pytest

from bench.analysis.budget import Budget, BudgetError, distinguishable, judge, ranked
from bench.report.decision import closeness, decide, decision_context, front, tradeoff_sentence


def row(name: str, hit: float, stale_p99: float = 0.0, *, hit_ci: float = math.nan,
        stale_ci: float = math.nan, origin: float = 50.0, p99: float = 3.0,
        repeats: int = 1, **more: Any) -> dict[str, Any]:  # fmt: skip
    return dict(strategy=name, hit_ratio=hit, hit_ratio_ci=hit_ci,
                read_staleness_p99_ms=stale_p99, read_staleness_p99_ms_ci=stale_ci,
                origin_rps_mean=origin, read_p99_ms=p99, repeats=repeats, stale_reads=0,
                stale_age_p99_ms=stale_p99 or math.nan, **more)  # fmt: skip


def test_one_repeat_is_judged_at_its_value() -> None:
    [stale, hits] = judge(row("delete", 0.80, 90.0), Budget(100.0, min_hit_ratio=0.8))
    assert (stale.value, stale.holds, stale.at_interval_end) == (90.0, True, False)
    assert hits.holds, "at least 0.8: 0.8 holds"


def test_repeats_are_judged_at_the_intervals_unfavourable_end() -> None:
    r = row("delete", 0.80, 90.0, hit_ci=0.02, stale_ci=15.0, repeats=3)
    [stale, hits] = judge(r, Budget(100.0, min_hit_ratio=0.79))
    assert stale.value == 105.0 and not stale.holds, "the upper end of a max limit's figure"
    assert hits.value == pytest.approx(0.78) and not hits.holds, "the lower end of a min limit's"


def test_a_figure_not_measured_never_holds() -> None:
    [herd] = judge(row("delete", 0.9, herd_size_p99=math.nan), Budget(max_herd_p99=5))
    assert math.isnan(herd.value) and not herd.holds


LIMITS_OUT_OF_RANGE = [
    ({"max_stale_ratio": 1.5}, "--max-stale-ratio"),
    ({"max_read_p99_ms": 0}, "--max-read-p99-ms"),
    ({"max_herd_p99": math.inf}, "--max-herd-p99"),
]


@pytest.mark.parametrize(("limits", "flag"), LIMITS_OUT_OF_RANGE)
def test_each_limit_is_checked_by_its_flag(limits: dict[str, float], flag: str) -> None:
    with pytest.raises(BudgetError, match=flag):
        Budget(**limits)


def test_the_pick_rule_hits_then_origin_load_then_read_p99() -> None:
    rows = [row("a", 0.90), row("b", 0.95, origin=80.0, p99=1.0),
            row("c", 0.9502, origin=40.0, p99=9.0),
            row("d", 0.9501, origin=40.0, p99=2.0)]  # fmt: skip
    assert [rows[i]["strategy"] for i in ranked(rows)] == ["d", "c", "b", "a"]


def test_distinguishable_needs_intervals_that_do_not_overlap() -> None:
    a, b = row("a", 0.90, hit_ci=0.01, repeats=3), row("b", 0.95, hit_ci=0.01, repeats=3)
    assert distinguishable(a, b, "hit_ratio") is True
    assert distinguishable(a, row("b", 0.91, hit_ci=0.01, repeats=3), "hit_ratio") is False
    assert distinguishable(row("a", 0.9), row("b", 0.95), "hit_ratio") is None


def test_the_decision_names_the_pick_and_each_first_breach() -> None:
    rows = [row("ttl", 0.97, 4_000.0), row("delete", 0.85, 20.0), row("marker", 0.88, 0.0)]
    context = decision_context(decide(rows, Budget(100.0)))
    assert context["headline"].startswith(
        "Pick: marker, the best of 2 that meet it (marker, delete)"
    )
    assert context["table"]["rows"][0] == [
        "ttl",
        "fails",
        "staleness p99 4,000 ms, against --max-stale-ms 100 (> limit)",
    ]
    assert (
        "whether marker's lead over delete on hit ratio is beyond noise is not known"
        in (context["closeness"])
    )


def test_a_lead_inside_the_intervals_names_both() -> None:
    rows = [
        row("delete", 0.85, hit_ci=0.02, repeats=3),
        row("marker", 0.86, hit_ci=0.02, repeats=3),
    ]
    said = closeness(decide(rows, Budget(100.0)))
    assert said is not None
    assert said.startswith("marker and delete are not distinguishable on this run")


def test_no_strategy_meets_it() -> None:
    context = decision_context(decide([row("ttl", 0.97, 4_000.0)], Budget(100.0)))
    assert context["headline"].startswith("No strategy measured meets the budget")


def test_the_front_is_what_no_other_beats_on_both() -> None:
    rows = [row("ttl", 0.97, 4_000.0), row("delete", 0.85, 20.0), row("guarded", 0.80, 30.0),
            row("marker", 0.88, 0.0)]  # fmt: skip
    assert [rows[i]["strategy"] for i in front(rows)] == ["ttl", "marker"]
    assert "stale-age p99: ttl, marker; delete, guarded:" in tradeoff_sentence(rows)


def test_the_report_opens_with_the_decision_or_the_trade_off(tmp_path: Path) -> None:
    import json

    from bench.report.run import build_report
    from tests.test_report import write_run_folder

    plain = write_run_folder(tmp_path / "plain")
    md = build_report(plain)[0].read_text()
    assert md.index("## Trade-off") < md.index("## What was run")
    assert (plain / "plots" / "tradeoff.png").read_bytes().startswith(b"\x89PNG")
    budgeted = write_run_folder(tmp_path / "budget")
    manifest = json.loads((budgeted / "run.json").read_text())
    (budgeted / "run.json").write_text(json.dumps(manifest | {"budget": {"min_hit_ratio": 0.95}}))
    md, html = (path.read_text() for path in build_report(budgeted))
    assert md.index("## Decision") < md.index("## What was run") and "## Trade-off" not in md
    assert "Budget: hit ratio at least 95.0%." in md and "<h2>Decision</h2>" in html
