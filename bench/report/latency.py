"""The run report's "Latency" table: per strategy, the read and write latency at each
percentile run.json's config asks for (`--percentiles`), and the slowest read.

The percentiles are read from `latency_percentiles.csv`, where analysis computed them
exactly from the answered rows (`bench.analysis.percentiles`); the other figures are
summary.csv's columns of the catalogue's "latency" place (`read_max_ms`). A folder
analysed before that file existed shows what summary.csv holds of those percentiles.
"""

from pathlib import Path
from typing import Any

from bench.analysis.columns import heading, shown_in
from bench.analysis.percentiles import label, recorded
from bench.analysis.tables import read_table
from bench.layout import RunFolder
from bench.report.numbers import fmt_figure, fmt_ms

Row = dict[str, Any]
# summary.csv's own percentiles, for a folder without latency_percentiles.csv
IN_SUMMARY = {("read", 50.0): "read_p50_ms", ("read", 90.0): "read_p90_ms",
              ("read", 99.0): "read_p99_ms", ("read", 99.9): "read_p999_ms",
              ("read", 100.0): "read_max_ms", ("write", 50.0): "write_p50_ms",
              ("write", 99.0): "write_p99_ms"}  # fmt: skip


def latency_table(folder: Path, manifest: dict[str, Any], rows: list[Row]) -> dict[str, Any]:
    """The table for `rows` (summary.csv's, in run order): `read pX ms` per percentile,
    the catalogued latency figures, then `write pX ms` per percentile; "-" where a
    strategy had no answered request of that op."""
    table = read_table(RunFolder(folder).latency_percentiles)
    percentiles, catalogued = recorded(manifest), shown_in("latency")
    exact = {(s, op, p): ms for s, op, p, ms in
             table.reindex(columns=["strategy", "op", "percentile", "latency_ms"])
             .itertuples(index=False)}  # fmt: skip

    def cells(row: Row, op: str) -> list[str]:
        if table.empty:
            return [fmt_ms(row.get(IN_SUMMARY.get((op, p), ""))) for p in percentiles]
        return [fmt_ms(exact.get((row["strategy"], op, p))) for p in percentiles]

    columns = ["strategy", *(f"read {label(p)} ms" for p in percentiles),
               *map(heading, catalogued),
               *(f"write {label(p)} ms" for p in percentiles)]  # fmt: skip
    body = [[r["strategy"], *cells(r, "read"), *(fmt_figure(c, r.get(c)) for c in catalogued),
             *cells(r, "write")] for r in rows]  # fmt: skip
    return {"title": "Latency", "columns": columns, "rows": body}
