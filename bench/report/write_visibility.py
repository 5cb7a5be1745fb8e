"""What the report says of write propagation: the write-visibility table (of the probe's
writes, the share visible on every replica within t of the acknowledgement, with its
nines) and the white-box check (the replicas' own times against the probe's brackets)."""

import math
from pathlib import Path
from typing import Any

from bench.analysis.tables import read_table
from bench.layout import RunFolder
from bench.report.numbers import fmt_int, fmt_ms, format_duration_ms, format_share, missing


def cell(share: float, nines: float, writes: int) -> str:
    """`99.5% (2.3)`; `100% (of 40)` when every write was, which rests on that many."""
    if writes == 0 or math.isnan(share):
        return "no writes"
    if math.isinf(nines):
        return f"100% (of {fmt_int(writes)})"
    return f"{format_share(share)} ({nines:.1f})"


def write_visibility_table(folder: Path, order: list[str]) -> dict[str, Any] | None:
    """Per strategy, one cell per t; None when the run has no probe writes."""
    table = read_table(RunFolder(folder).write_visibility)
    if table.empty:
        return None
    ts = sorted(table["t_ms"].unique())
    rows = []
    for name in [n for n in order if n in set(table["strategy"])]:
        mine = table[table["strategy"] == name].set_index("t_ms")
        rows.append([name, *(cell(mine.at[t, "visible_share"], mine.at[t, "nines"],
                                  int(mine.at[t, "writes"])) for t in ts)])  # fmt: skip
    return {"columns": ["strategy", *(f"within {format_duration_ms(t)}" for t in ts)],
            "rows": rows}  # fmt: skip


def from_ack(ms: float) -> str:
    """`0.40 ms after the ack`, or before it: the writer's replica and its subscribers
    often apply an invalidation before the answer reaches the probe."""
    return f"{fmt_ms(abs(ms))} ms {'after' if ms >= 0 else 'before'} the ack"


def whitebox_note(rows: list[dict[str, Any]]) -> list[str]:
    """The replicas' own account of when they applied the probe's invalidations, and
    whether it agrees with the probe's bracket."""
    said = []
    for r in rows:
        count = r.get("whitebox_rows")
        if missing(count) or not count:
            continue
        outside = int(r["whitebox_outside"])
        agreement = (f"all {fmt_int(count)} inside the probe's bracket" if outside == 0 else
                     f"{fmt_int(outside)} of {fmt_int(count)} OUTSIDE the probe's bracket:"
                     " an instrument fault (whitebox.csv lists them)")  # fmt: skip
        said.append(f"{r['strategy']} {from_ack(r['whitebox_p50_ms'])} (p50; p99"
                    f" {from_ack(r['whitebox_p99_ms'])}), {agreement}")  # fmt: skip
    if not said:
        return []
    return [
        "White-box check: by their own logs, the replicas applied the probe's"
        f" invalidations {'; '.join(said)}."
    ]
