"""The report, built from a literal run folder: analysis output written by hand, no services.

The report's input is the folder's files, so a hand-made summary.csv (figures one can
check by eye) is a fair test: every number the report prints must come from it.
"""

import json
import math
import re
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pandas as pd
import pytest

from bench.analysis.columns import heading
from bench.report.guide_notes import probe_phrase, stampede_notes
from bench.report.numbers import fmt_ms, fmt_pct
from bench.report.plots import make_plots
from bench.report.render import md_escape
from bench.report.run import SUMMARY_TABLES, build_report, verdict
from bench.report.timing import timing_note, timing_table
from bench.runtime.verify import claim

STRATEGIES = ("ttl", "delete", "versioned", "pubsub")
T_MS = (0.0, 10.0, 100.0, 1000.0, 10000.0)
BASE = dict(scenario="read_mostly", replicas=3, ttl_s=30.0, requests=18_000, rps=300.0,
            errors=0, reads=17_100, writes=900, read_p50_ms=0.9, read_p90_ms=1.6,
            read_p99_ms=3.8, read_p999_ms=9.5, read_max_ms=41.2, write_p50_ms=2.1,
            write_p99_ms=6.3, local_hit_ratio=0.0, list_stale_ratio=math.nan,
            probe_poll_interval_ms=2.0)  # fmt: skip
# What distinguishes the strategies, with the shape the guide predicts.
FIGURES: dict[str, dict[str, Any]] = {
    "ttl": dict(hit_ratio=0.962, stale_reads=631, stale_read_ratio=631 / 17_100,
                stale_age_p50_ms=8_900.0, stale_age_p99_ms=29_100.0, stale_age_max_ms=29_870.0,
                probe_cycles=20, probe_convergence_p50_ms=14_800.0,
                probe_convergence_p99_ms=math.inf, probe_convergence_max_ms=math.inf,
                probe_convergence_lo_p50_ms=14_798.0, probe_bracket_p50_ms=2.1,
                probe_censored=3),
    "delete": dict(hit_ratio=0.941, stale_reads=4, stale_read_ratio=4 / 17_100,
                   stale_age_p50_ms=0.8, stale_age_p99_ms=19.0, stale_age_max_ms=31.0,
                   probe_cycles=20, probe_convergence_p50_ms=1.2, probe_convergence_p99_ms=4.1,
                   probe_convergence_max_ms=9.8, probe_convergence_lo_p50_ms=0.3,
                   probe_bracket_p50_ms=0.9, probe_censored=0),
    "versioned": dict(hit_ratio=0.902, stale_reads=0, stale_read_ratio=0.0,
                      stale_age_p50_ms=math.nan, stale_age_p99_ms=math.nan,
                      stale_age_max_ms=math.nan, probe_cycles=20, probe_convergence_p50_ms=1.1,
                      probe_convergence_p99_ms=3.9, probe_convergence_max_ms=8.7,
                      probe_convergence_lo_p50_ms=0.2, probe_bracket_p50_ms=0.9,
                      probe_censored=0),
    "pubsub": dict(hit_ratio=0.975, local_hit_ratio=0.81, stale_reads=2,
                   stale_read_ratio=2 / 17_100, stale_age_p50_ms=0.4, stale_age_p99_ms=2.1,
                   stale_age_max_ms=3.0, probe_cycles=20, probe_convergence_p50_ms=0.9,
                   probe_convergence_p99_ms=4.8, probe_convergence_max_ms=6.0,
                   probe_convergence_lo_p50_ms=0.0, probe_bracket_p50_ms=0.8,
                   probe_censored=0),
}  # fmt: skip
# fresh share at each t of T_MS: ttl slowly, the others at once
FRESH = {
    "ttl": (0.9631, 0.9633, 0.9652, 0.9704, 0.9921),
    "delete": (0.99977, 0.99995, 1.0, 1.0, 1.0),
    "versioned": (1.0, 1.0, 1.0, 1.0, 1.0),
    "pubsub": (0.99988, 0.9999, 0.99999, 1.0, 1.0),
}
LATENCY_MS = {"ttl": 0.9, "delete": 1.0, "versioned": 1.1, "pubsub": 0.5}  # median read
PROBE_MS = {"delete": 0.8, "versioned": 0.6, "pubsub": 0.3}  # fastest probe reading
QUANTILES = (*(i / 100 for i in range(100)), 0.995, 0.999, 0.9999, 1.0)


def manifest(strategies: tuple[str, ...], status: str, reason: str | None) -> dict[str, Any]:
    """A run.json as the harness writes it (bench.manifest), schema 1."""
    return {
        "schema_version": 1,
        "status": status,
        "reason": reason,
        "config": {
            "strategies": list(strategies),
            "replicas": 3,
            "scenario": "read_mostly",
            "duration_s": 60.0,
            "ttl_s": 30.0,
            "users": 20,
            "rate": 300.0,
            "origin_delay_ms": 0.0,
            "products": 1000,
            "categories": 10,
            "seed": 1,
            "locust_workers": 0,
            "poll_ms": 2.0,
            "runtime": "local",
        },
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "packages": {"fastapi": "0.115.0", "redis": "5.2.1", "pandas": "3.1.1"},
        "host": {
            "cpus": 2,
            "memory_bytes": 8 * 2**30,
            "platform": "Linux-6.1-x86_64",
            "python": "3.11.2",
        },
        "redis_server": "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64",
        "started_at": "2025-01-01T10:00:00.000+00:00",
        "ended_at": "2025-01-01T10:04:10.000+00:00",
        "strategies": {
            name: {"status": "complete", "replicas": [], "rows_recorded": 18_000}
            for name in strategies
        },
    }


def probe_rows(name: str) -> list[dict[str, Any]]:
    """20 cycles x 3 replicas; ttl's last readings censored, as a 30 s TTL would leave them."""
    rows = []
    for cycle in range(20):
        for r in range(3):
            spread = (cycle * 7 + r * 3) % 20
            upper = (
                14_000.0 + 800 * spread
                if name == "ttl"
                else PROBE_MS.get(name, 1.0) * (1 + spread / 4)
            )
            censored = name == "ttl" and cycle * 3 + r >= 57
            rows.append(dict(strategy=name, cycle=cycle, key=f"product:{1001 + cycle % 4}",
                             writer=f"{name}-{cycle % 3}", replica=f"{name}-{r}",
                             ack_ns=1_700_000_000_000_000_000 + cycle * 10**9,
                             convergence_ms=math.nan if censored else upper,
                             convergence_lo_ms=math.nan if censored else max(upper - 1.0, 0),
                             polls=3, poll_interval_ms=2.0, censored=censored))  # fmt: skip
    return rows


def write_run_folder(
    folder: Path,
    strategies: tuple[str, ...] = STRATEGIES,
    status: str = "complete",
    reason: str | None = None,
    figures: dict[str, dict[str, Any]] | None = None,
    probe: bool = True,
) -> Path:
    """A run folder as analysis leaves it; `figures` overrides FIGURES per strategy."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(manifest(strategies, status, reason)))
    figures = figures or {}
    known = [n for n in strategies if n in FIGURES or n in figures]
    summary = [
        {"strategy": n, **BASE, **FIGURES.get(n, FIGURES["delete"]), **figures.get(n, {})}
        for n in known
    ]
    pd.DataFrame(summary).to_csv(folder / "summary.csv", index=False)
    vis = [
        dict(
            strategy=n,
            t_ms=t,
            reads=17_000 - 1_000 * i,
            fresh_share=share,
            nines=math.inf if share >= 1 else -math.log10(1 - share),
        )
        for n in known
        for i, (t, share) in enumerate(zip(T_MS, FRESH.get(n, FRESH["delete"]), strict=True))
    ]
    pd.DataFrame(vis).to_csv(folder / "t_visibility.csv", index=False)
    cdf = [
        dict(
            strategy=n,
            op=op,
            quantile=q,
            latency_ms=LATENCY_MS.get(n, 1.0)
            * scale
            * math.exp(0.6 * NormalDist().inv_cdf(min(max(q, 1e-5), 1 - 1e-5))),
        )
        for n in known
        for op, scale in (("read", 1.0), ("write", 2.5))
        for q in QUANTILES
    ]
    pd.DataFrame(cdf).to_csv(folder / "latency_cdf.csv", index=False)
    if probe:
        (folder / "probe").mkdir(exist_ok=True)
        for n in known:
            pd.DataFrame(probe_rows(n)).to_csv(folder / "probe" / f"{n}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One report of the full literal run, built once: (folder, markdown, html)."""
    folder = write_run_folder(tmp_path_factory.mktemp("results") / "20250101T100000Z-read_mostly")
    md_path, html_path = build_report(folder)
    assert (md_path, html_path) == (folder / "report.md", folder / "report.html")
    return folder, md_path.read_text(), html_path.read_text()


def test_report_names_every_strategy(report: tuple[Path, str, str]) -> None:
    _, md, html = report
    for name in STRATEGIES:
        assert f"- **{name}**: " in md
        assert f"<li><strong>{name}</strong>: " in html
    assert "![Read latency tail" in md and "(plots/read_latency.png)" in md
    assert "| strategy | requests | req/s |" in md


def test_html_is_self_contained(report: tuple[Path, str, str]) -> None:
    html = report[2]
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", html, flags=re.I)
    assert len(links) == 5  # one per plot, and the trade-off the report opens with
    assert all(link.startswith("data:image/png;base64,") for link in links)
    assert "<script" not in html and "<link" not in html and "url(" not in html


def test_verdicts_quote_the_summary(report: tuple[Path, str, str]) -> None:
    md = report[1]
    delete = next(line for line in md.splitlines() if line.startswith("- **delete**"))
    assert "0.023% of reads stale (4 of 17,100)" in delete
    assert "oldest 31 ms" in delete and "hit ratio 94.1%" in delete
    assert "within 1.2 ms of its acknowledgement (p50; p99 4.1 ms)" in delete
    ttl = next(line for line in md.splitlines() if line.startswith("- **ttl**"))
    assert "p99 beyond the probe's cap" in ttl and "3 probe readings censored" in ttl
    assert "no stale reads among 17,100" in md
    assert "(81.0% from the local tier)" in md
    # the closing paragraph ties the guide's rules to the same figures
    assert "only its 30 s TTL ends a stale read; 3.7% of its reads were stale" in md
    assert "the oldest was 29,870 ms old, within the TTL" in md
    assert "hit ratio 90.2% against 94.1% for delete" in md


def test_the_freshness_table_shows_stale_by_design_beside_stale_reads(
    report: tuple[Path, str, str],
) -> None:
    md = report[1]
    assert (
        "| strategy | stale reads | stale read ratio | stale by design | stale age p50 ms |" in md
    )
    # a summary.csv written before the column existed still reports, with "-"
    assert "| delete | 4 | 0.023% | - | 0.80 |" in md


def test_the_summary_tables_say_the_same_in_markdown_and_html(
    report: tuple[Path, str, str],
) -> None:
    _, md, html = report
    for title, columns in SUMMARY_TABLES:
        assert f"### {title}\n" in md and f"<h3>{title}</h3>" in html
        header = ["strategy", *map(heading, columns)]
        assert f"| {' | '.join(header)} |" in md
        assert "".join(f"<th>{c}</th>" for c in header) in html
    assert "| strategy | probe cycles | probe upper bound p50 ms |" in md
    assert "| ttl | 20 | 14,800 |" in md


def test_the_stampede_note_says_who_served_stale_by_design() -> None:
    herd = dict(scenario="stampede", herd_size_p50=1.0, herd_size_p99=2.0, herd_size_max=2.0,
                origin_rps_mean=14.0, origin_rps_peak=20.0)  # fmt: skip
    rows = {
        "delete": {"strategy": "delete", **herd, "stale_by_design_ratio": 0.0},
        "swr": {"strategy": "swr", **herd, "stale_by_design_ratio": 0.123},
        "lease": {"strategy": "lease", **herd},  # a summary from before the column
    }
    herds, served = stampede_notes(rows)
    assert herds.startswith("The thundering herd:") and "swr p50 1, p99 2, max 2" in herds
    assert served.endswith(
        "instead of a herd at expiry: swr served 12.3% of reads stale by design."
    )
    rows["swr"]["stale_by_design_ratio"] = 0.0
    assert len(stampede_notes(rows)) == 1, "no strategy served stale: no note"
    rows["swr"]["scenario"] = rows["delete"]["scenario"] = rows["lease"]["scenario"] = "lists"
    assert stampede_notes(rows) == []


def test_t_visibility_sentences(report: tuple[Path, str, str]) -> None:
    md = report[1]
    assert "| ttl | 96% (1.4) | 96% (1.4) | 96% (1.5) | 97% (1.5) | 99.2% (2.1) |" in md
    assert "| versioned | 100% (of 17,000) | 100% (of 16,000) |" in md
    assert "- delete: 99.97% of reads fresh 0 ms after a write; 99.995% of reads fresh 10 ms" in md
    assert "all reads fresh 100 ms after a write and later." in md
    assert "- versioned: all reads fresh 0 ms after a write and later." in md
    assert "- ttl: 96% of reads fresh 0 ms after a write;" in md
    assert "99.2% of reads fresh 10 s after a write." in md


def test_plots_of_the_full_run_are_pngs(report: tuple[Path, str, str]) -> None:
    plots = sorted(path.name for path in (report[0] / "plots").iterdir())
    assert plots == [
        "hit_stale.png",
        "probe_convergence.png",
        "read_latency.png",
        "t_visibility.png",
        "tradeoff.png",
    ]
    for name in plots:
        assert (report[0] / "plots" / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_interrupted_run_says_so_prominently(tmp_path: Path) -> None:
    folder = write_run_folder(
        tmp_path / "run", status="interrupted", reason="stopped by Ctrl-C (SIGINT) or SIGTERM"
    )
    md, html = (path.read_text() for path in build_report(folder))
    assert "> **⚠ This run was INTERRUPTED before it finished: stopped by Ctrl-C" in md
    assert '<p class="warning">⚠ This run was INTERRUPTED' in html
    assert html.index("INTERRUPTED") < html.index("What was run")


def test_a_failed_strategy_is_reported_not_measured(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", strategies=("ttl", "delete"))
    data = json.loads((folder / "run.json").read_text())
    data["config"]["strategies"].append("pubsub")
    data["strategies"]["pubsub"] = {"status": "failed_verify", "reason": "replica 2 stale"}
    data["reason"] = "strategies that failed verification: pubsub"
    (folder / "run.json").write_text(json.dumps(data))
    md = build_report(folder)[0].read_text()
    assert "- **pubsub**: not measured (status failed\\_verify: replica 2 stale)." in md
    assert "Status: **complete (strategies that failed verification: pubsub)**" in md


def test_names_are_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    folder = write_run_folder(tmp_path / "run", strategies=(evil, "delete"))
    md, html = (path.read_text() for path in build_report(folder))
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in md and "&lt;script&gt;" in md


def test_plots_are_pngs_and_skip_what_is_absent(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", probe=False)
    plots = make_plots(folder)
    assert plots["probe_convergence"] is None
    drawn = [path for path in plots.values() if path]
    assert [p.name for p in drawn] == ["read_latency.png", "hit_stale.png", "t_visibility.png"]
    for path in drawn:
        assert path.parent == folder / "plots"
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_report_of_a_run_without_analysis_output(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", status="failed", reason="redis-server died")
    for name in ("summary.csv", "t_visibility.csv", "latency_cdf.csv"):
        (folder / name).unlink()
    md, html = (path.read_text() for path in build_report(folder))
    assert "This run FAILED: redis-server died." in md
    assert "No summary.csv in this folder" in md and "No summary.csv in this folder" in html
    assert "- **ttl**: completed, but summary.csv has no figures for it." in md


@pytest.mark.parametrize(
    ("value", "text"), [(0.941, "94.1%"), (4 / 17_100, "0.023%"), (0.0, "0%"), (math.nan, "-")]
)
def test_fmt_pct(value: float, text: str) -> None:
    assert fmt_pct(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.25, "0.25"),
        (1.23, "1.2"),
        (31.0, "31"),
        (29_870, "29,870"),
        (math.inf, "> cap"),
    ],
)
def test_fmt_ms(value: float, text: str) -> None:
    assert fmt_ms(value) == text


def test_md_escape_keeps_tables_and_html_intact() -> None:
    assert md_escape("a|b_<c>") == "a\\|b\\_&lt;c&gt;"


def test_a_verdict_counts_stale_by_design_answers_and_ends_with_the_verified_promise() -> None:
    row = {**BASE, **FIGURES["delete"], "stale_by_design_ratio": 0.029}
    said = verdict(row, {"status": "complete", "claim": claim("swr")})
    assert "hit ratio 94.1% (2.9% answered stale by design)" in said
    assert said.endswith(f"Verified first: {claim('swr')}.")
    assert "stale by design" not in verdict({**row, "stale_by_design_ratio": 0.0}, {})


def test_a_verdict_rests_on_the_reads_judged_and_counts_what_did_not_answer() -> None:
    """Of 17,100 reads, 713 were a 2xx whose body did not parse: no claim of freshness
    may count them, and the errors say what they were."""
    row = {**BASE, **FIGURES["versioned"], "reads_checked": 16_387, "errors": 713,
           "unparseable": 713}  # fmt: skip
    said = verdict(row, {"status": "complete"})
    assert "no stale reads among 16,387" in said and "17,100" not in said
    assert "713 errors, 713 of them a 2xx whose body did not parse" in said
    assert "did not parse" not in verdict({**row, "unparseable": 0}, {})


def test_client_and_server_time_side_by_side_with_which_to_quote() -> None:
    rows = [{"strategy": "delete", "read_p50_ms": 4.0, "read_server_p50_ms": 0.5,
             "read_p99_ms": 12.0, "read_server_p99_ms": 2.25},
            {"strategy": "ttl", "read_p50_ms": 3.0, "read_server_p50_ms": math.nan}]  # fmt: skip
    [table] = timing_table(rows)
    assert table["rows"] == [["delete", "4.0", "0.50", "12%", "12", "2.2"]]
    [note] = timing_note(rows)
    assert "delete 0.50 of 4.0 ms" in note and "quote the server figures" in note
    assert "--arrivals open" in note
    assert timing_table(rows[1:]) == [] and timing_note(rows[1:]) == []


def test_an_open_loop_run_adds_the_intended_start_and_late_arrivals() -> None:
    row = {"strategy": "delete", "read_p50_ms": 1.2, "read_server_p50_ms": 0.4,
           "read_p99_ms": 9.0, "read_server_p99_ms": 3.0, "read_intended_p50_ms": 1.4,
           "read_intended_p99_ms": 822.0, "arrivals_late": 119.0,
           "arrival_lateness_p99_ms": 2.6}  # fmt: skip
    [table] = timing_table([row])
    assert table["columns"][-4:] == ["read p50 ms from intended start",
                                     "read p99 ms from intended start", "late arrivals",
                                     "arrival lateness p99 ms"]  # fmt: skip
    assert table["rows"][0][-4:] == ["1.4", "822", "119", "2.6"]
    [note] = timing_note([row])
    assert "quote the read p99 from the intended start" in note


def test_a_replica_fresh_before_the_ack_is_said_so() -> None:
    row = {"probe_convergence_p50_ms": -0.4, "probe_convergence_p99_ms": 1.5,
           "probe_censored": 0}  # fmt: skip
    said = probe_phrase(row)
    assert said == ("replicas served a probe write 0.40 ms before its acknowledgement"
                    " reached the probe (p50; p99 1.5 ms)")  # fmt: skip


def test_probe_readings_censored_by_failed_requests_are_said_so() -> None:
    row = {"probe_convergence_p50_ms": 1.2, "probe_convergence_p99_ms": math.inf,
           "probe_censored": 40, "probe_errors": 40}  # fmt: skip
    assert probe_phrase(row).endswith(
        "40 probe readings censored (40 probe requests failed: no answer or no version)"
    )
    older = {k: v for k, v in row.items() if k != "probe_errors"}  # a summary.csv before it
    assert probe_phrase(older).endswith("40 probe readings censored")
