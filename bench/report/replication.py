"""The report's section on replication and links: when the origin had a lagging read
replica or the links a delay, what the lag measured, where the stale reads were served,
and one sentence per strategy on what bounded its stale age.

Reads only run.json's config (`origin_lag_ms`, `link_delay`) and summary.csv's figures
(`origin_lag_ms_p50`, `origin_lag_ms_max`, `stale_reads_origin`, `stale_reads_cached`
and their oldest ages); a run without a lag or a link delay has no such section.
"""

from __future__ import annotations

from typing import Any

from bench.report.numbers import fmt_int, fmt_ms, missing

Row = dict[str, Any]
FIGURES = ("origin_lag_ms_p50", "origin_lag_ms_max", "stale_reads_origin",
           "stale_age_origin_max_ms", "stale_reads_cached", "stale_age_cached_max_ms")  # fmt: skip


def replication_section(config: dict[str, Any], rows: list[Row]) -> dict[str, Any] | None:
    """The section's setup line, its table and a sentence per strategy; None without a lag
    or a link delay."""
    lag, links = config.get("origin_lag_ms"), config.get("link_delay")
    if not lag and not links:
        return None
    setup = []
    if lag:
        setup.append(f"the origin's reads went to a streaming replica {lag:g} ms behind its"
                     " primary (recovery_min_apply_delay); writes to the primary")  # fmt: skip
    if links:
        setup.append(f"links delayed by the suite's proxy: {links}")
    return {
        "setup": "; ".join(setup).capitalize() + ".",
        "table": {
            "columns": [
                "strategy",
                "lag p50 ms",
                "lag max ms",
                "stale from origin",
                "oldest from origin ms",
                "stale from cache",
                "oldest from cache ms",
            ],
            "rows": [[r["strategy"], *(_cell(c, r.get(c)) for c in FIGURES)] for r in rows],
        },
        "sentences": [bound_sentence(r) for r in rows],
    }


def _cell(column: str, value: Any) -> str:
    if missing(value):
        return "-"
    return fmt_ms(value) if "_ms" in column else fmt_int(value)


def bound_sentence(row: Row) -> str:
    """What bounded one strategy's stale age, from where its stale reads were served."""
    name, lag = row["strategy"], row.get("origin_lag_ms_p50")
    cached, origin = row.get("stale_reads_cached") or 0, row.get("stale_reads_origin") or 0
    if not cached and not origin:
        return f"{name}: no stale read."
    parts = []
    if origin:
        parts.append(f"{fmt_int(origin)} stale reads came from the origin itself (the replica"
                     f" behind), the oldest {fmt_ms(row.get('stale_age_origin_max_ms'))} ms:"
                     " the replica's lag bounds them")  # fmt: skip
    if cached:
        oldest = row.get("stale_age_cached_max_ms")
        times = (f", {oldest / lag:.0f}x the measured lag" if not missing(lag) and lag > 0
                 and not missing(oldest) else "")  # fmt: skip
        parts.append(f"{fmt_int(cached)} came from the cache, the oldest {fmt_ms(oldest)} ms"
                     f"{times}: an old row put back, which only the next write or the TTL"
                     " ends")  # fmt: skip
    else:
        parts.append("none was put back in the cache")
    return f"{name}: " + "; ".join(parts) + "."
