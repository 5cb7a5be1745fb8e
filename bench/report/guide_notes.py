"""The guide's rules and gotchas in words, each tied to the figures of the strategies that
ran: the run report's notes (`bench.report.run`), and the probe's convergence phrased
once for them and for the verdicts. Every number comes from a summary row.
"""

import math
from typing import Any

import pandas as pd

from bench.report.numbers import (
    fmt_int,
    fmt_ms,
    fmt_number,
    fmt_pct,
    format_duration_ms,
    format_share,
    missing,
    positive,
)

Row = dict[str, Any]


def probe_phrase(row: Row) -> str:
    """The probe's convergence in words; an infinite quantile means a censored tail."""
    p50, p99, censored = (row[f"probe_{c}"] for c in
                          ("convergence_p50_ms", "convergence_p99_ms", "censored"))  # fmt: skip
    if math.isinf(p50):
        return f"most probe readings ({fmt_int(censored)} censored) never saw the write in time"
    tail = f"p99 {fmt_ms(p99)} ms" if not math.isinf(p99) else "p99 beyond the probe's cap"
    when = (f"within {fmt_ms(p50)} ms of its acknowledgement" if p50 >= 0
            else f"{fmt_ms(-p50)} ms before its acknowledgement reached the probe")  # fmt: skip
    text = f"replicas served a probe write {when} (p50; {tail})"
    if positive(censored):
        text += f", {fmt_int(censored)} probe readings censored"
        if positive(errors := row.get("probe_errors")):  # absent from an older summary.csv
            text += f" ({fmt_int(errors)} probe requests failed: no answer or no version)"
    return text


def guide_notes(rows: dict[str, Row], vis: pd.DataFrame, ttl_s: float) -> list[str]:
    """The guide's rules, each tied to this run's figures for the strategies that ran."""
    notes = []
    stale = {name: fmt_pct(r["stale_read_ratio"]) for name, r in rows.items()}
    if (ttl := rows.get("ttl")) and positive(ttl["stale_reads"]):
        oldest = ttl["stale_age_max_ms"]
        bound = "within" if oldest <= ttl_s * 1000 else f"{fmt_ms(oldest - ttl_s * 1000)} ms beyond"
        notes.append(
            f"Rule 1, a TTL on every entry: ttl never invalidates, so only its {ttl_s:g} s TTL"
            f" ends a stale read; {stale['ttl']} of its reads were stale and the oldest was"
            f" {fmt_ms(oldest)} ms old, {bound} the TTL."
        )
    if delete := rows.get("delete"):
        versus = f" (ttl: {stale['ttl']})" if "ttl" in rows else ""
        race = (f"; the oldest, {fmt_ms(delete['stale_age_max_ms'])} ms, is the kind the"
                " read/write race leaves" if positive(delete["stale_reads"]) else "")  # fmt: skip
        notes.append(
            f"Rule 2, invalidate in the write path: delete drops the keys before the write"
            f" returns, and {stale['delete']} of its reads were stale{versus}{race}."
        )
    if versioned := rows.get("versioned"):
        hits = f"hit ratio {fmt_pct(versioned['hit_ratio'])}"
        if delete and versioned["hit_ratio"] < delete["hit_ratio"]:
            hits += (
                f" against {fmt_pct(delete['hit_ratio'])} for delete: retiring the whole"
                " category on every write is the over-invalidation the guide warns of"
            )
        notes.append(
            f"Rule 3, versioned keys: versioned retires a category with one INCR;"
            f" {stale['versioned']} of its reads were stale, {hits}."
        )
    if (pubsub := rows.get("pubsub")) and not missing(pubsub["probe_convergence_p50_ms"]):
        notes.append(
            f"Rule 4, propagate with events: pubsub served {fmt_pct(pubsub['local_hit_ratio'])}"
            f" of reads from its local tier, and {probe_phrase(pubsub)}."
        )
    notes += beyond_the_guide(rows)
    notes += stampede_notes(rows)
    later = vis[(vis["t_ms"] > 0) & (vis["reads"] > 0)]
    if not later.empty:
        first = later[later["t_ms"] == later["t_ms"].min()]
        shares = ", ".join(
            f"{r.strategy} {format_share(r.fresh_share)}" for r in first.itertuples()
        )
        when = format_duration_ms(first["t_ms"].iloc[0])
        notes.append(f"Rule 5, a write visible on the next read: {when} after a write, the"
                     f" share of reads fresh was {shares}.")  # fmt: skip
    return notes


def beyond_the_guide(rows: dict[str, Row]) -> list[str]:
    """The guide's gotchas shown by contrast, for the strategies that ran."""
    notes, delete = [], rows.get("delete")
    if (partial := rows.get("partial")) and not missing(partial["list_stale_ratio"]):
        versus = ""
        if delete and not missing(delete["list_stale_ratio"]):
            versus = (f" against {fmt_pct(delete['list_stale_ratio'])} for delete, which"
                      " drops the list too")  # fmt: skip
        notes.append(
            f"The partial-key gotcha: partial drops product:{{id}} only, and"
            f" {fmt_pct(partial['list_stale_ratio'])} of its category lists were stale{versus}."
        )
    if (lease := rows.get("lease")) and delete:
        notes.append(
            f"The read/write race, closed by leases: lease had {fmt_int(lease['stale_reads'])}"
            f" stale reads and a hit ratio of {fmt_pct(lease['hit_ratio'])}; delete"
            f" {fmt_int(delete['stale_reads'])} and {fmt_pct(delete['hit_ratio'])}."
        )
    if (tracking := rows.get("tracking")) and not missing(tracking["probe_convergence_p50_ms"]):
        notes.append(
            f"Invalidations from Redis itself: tracking served"
            f" {fmt_pct(tracking['local_hit_ratio'])} of reads from its local tier (every"
            f" fill empties the other replicas' copies), and {probe_phrase(tracking)}."
        )
    if (outbox := rows.get("outbox")) and delete and not missing(outbox["write_p50_ms"]):
        notes.append(
            f"Invalidation from the commit: outbox wrote in {fmt_ms(outbox['write_p50_ms'])} ms"
            f" (p50) against {fmt_ms(delete['write_p50_ms'])} ms for delete, the price of its"
            f" outbox row; it had {fmt_int(outbox['stale_reads'])} stale reads to delete's"
            f" {fmt_int(delete['stale_reads'])}. What it buys shows under a hung or cut-off"
            " Redis (--fault): a DEL that delete loses, its relay delivers later."
        )
    return notes


def stampede_notes(rows: dict[str, Row]) -> list[str]:
    """The herd per strategy, under the scenario built to show it, and what a strategy
    served stale on purpose instead of herding."""
    stampede = [r for r in rows.values() if r.get("scenario") == "stampede"]
    return [*herd_note(stampede), *stale_by_design_note(stampede)]


def herd_note(stampede: list[Row]) -> list[str]:
    """Herd sizes and origin load of the strategies that had herds (none: no note)."""
    herded = [r for r in stampede if not missing(r.get("herd_size_p50"))]
    if not herded:
        return []
    sizes = "; ".join(
        f"{r['strategy']} p50 {fmt_number(r['herd_size_p50'])},"
        f" p99 {fmt_number(r['herd_size_p99'])}, max {fmt_number(r['herd_size_max'])}"
        f" (origin {fmt_number(r['origin_rps_mean'])} reads/s,"
        f" peak {fmt_number(r['origin_rps_peak'])})"
        for r in herded
    )
    return [f"The thundering herd: readers sent to the origin per expiry or invalidation of"
            f" a hot key, {sizes}."]  # fmt: skip


def stale_by_design_note(stampede: list[Row]) -> list[str]:
    """The share of reads answered `stale` on purpose, for the strategies that did so.

    Said beside the herds because it is what such a strategy pays for not herding at
    expiry; unlike a stale read it is no invalidation failure (see `stale_read_ratio`)."""
    served = [
        f"{r['strategy']} served {fmt_pct(r['stale_by_design_ratio'])} of reads stale by design"
        for r in stampede
        if positive(r.get("stale_by_design_ratio"))
    ]
    if not served:
        return []
    return [f"Past a soft TTL, the old value at once while one reader refreshes it in the"
            f" background, instead of a herd at expiry: {'; '.join(served)}."]  # fmt: skip
