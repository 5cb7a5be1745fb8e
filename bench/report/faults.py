"""The report's section on injected faults: what each did, and rule 1 with data.

Reads only analysis output (fault_effects.csv, summary.csv, summary_without_faults.csv):
per fault, its stale reads, the oldest, how long after the fault's end the last came
(recovery), and the errors while it lasted; the strategy's own figures beside the
figures with the faults' stale reads; and, for a fault that loses invalidations, whether
the TTL healed what it caused, as the guide's first rule promises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.analysis.columns import shown_in
from bench.analysis.tables import read_table
from bench.faults.kinds import LOSE_INVALIDATIONS
from bench.layout import RunFolder
from bench.report.numbers import fmt_figure, fmt_int, fmt_ms, missing

OWN_FIGURES = shown_in("faults")


def effect_line(row: Any) -> str:
    """One fault on one strategy in words; every figure from fault_effects.csv."""
    head = f"{row.fault} on {row.strategy}"
    if row.status != "applied":
        return f"{head}: {row.status}."
    errors = f"{fmt_int(row.errors)} errors among {fmt_int(row.requests)} requests while it lasted"
    if not row.stale_reads:
        return f"{head}: no stale read it caused; {errors}."
    after = fmt_ms(row.last_stale_after_end_ms)
    return (f"{head}: {fmt_int(row.stale_reads)} stale reads it caused, the oldest"
            f" {fmt_ms(row.oldest_stale_age_ms)} ms old, the last {after} ms after the fault"
            f" ended; {errors}.")  # fmt: skip


def rule_one(row: Any, ttl_s: float) -> str | None:
    """The guide's rule 1 (a TTL heals a missed invalidation), checked on this fault."""
    if row.status != "applied" or row.kind not in LOSE_INVALIDATIONS or not row.stale_reads:
        return None
    after_s = row.last_stale_after_end_ms / 1000
    verdict = "within" if after_s <= ttl_s else f"{after_s - ttl_s:.1f} s beyond"
    target = f" of replica {row.arg:g}" if not missing(row.arg) else ""
    return (f"Rule 1 on {row.strategy}: after {row.kind}{target}, the last stale read it"
            f" caused came {after_s:.1f} s after the fault ended, {verdict} the {ttl_s:g} s"
            " TTL.")  # fmt: skip


def own_table(with_faults: pd.DataFrame, without: pd.DataFrame) -> dict[str, Any]:
    """Per strategy, each staleness figure with the faults' stale reads, then without."""
    rows = []
    before = {r["strategy"]: r for r in with_faults.to_dict("records")}
    for after in without.to_dict("records"):
        row = before.get(after["strategy"], {})
        rows.append([after["strategy"], *(
            f"{fmt_figure(c, row.get(c))} / {fmt_figure(c, after[c])}" for c in OWN_FIGURES
        )])  # fmt: skip
    columns = ["strategy", *(f"{c.replace('_', ' ')} (all / own)" for c in OWN_FIGURES)]
    return {"columns": columns, "rows": rows}


def fault_section(folder: Path, ttl_s: float) -> dict[str, Any] | None:
    """The faults section's lines and table; None for a run without faults."""
    run = RunFolder(folder)
    effects = read_table(run.fault_effects)
    if effects.empty:
        return None
    rows = list(effects.itertuples())
    own = read_table(run.summary_without_faults)
    return {
        "lines": [effect_line(row) for row in rows],
        "rule_one": [line for row in rows if (line := rule_one(row, ttl_s))],
        "own": own_table(read_table(run.summary), own) if not own.empty else None,
    }
