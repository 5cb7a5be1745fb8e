"""`bench compare A B`: two runs' summaries side by side, as markdown.

Like the report it reads only the summary (summary.json, or summary.csv for a run older
than it) and run.json, so any two stored runs can be compared. A run with repeats shows
each figure as mean ± its 95% half-width, and a column says whether the two intervals are
apart: a difference inside them is no finding. A strategy measured in one run only is
shown as absent on the other side, never filled in, and the header lists every config
value that differs between the runs, so a reader sees at once whether the two are
comparable. Two runs of one strategy each,
under different names (the suite's `delete` and a service measured with `--runtime
external`), are compared with each other.
"""

import math
from pathlib import Path
from typing import Any

from bench.analysis.budget import distinguishable
from bench.analysis.columns import heading, shown_in
from bench.analysis.tables import read_table
from bench.disk import write_whole
from bench.layout import RunFolder
from bench.manifest import read_manifest, strategy_order
from bench.report.numbers import NONE, fmt_interval, missing
from bench.report.render import md_escape
from bench.report.summary_json import read_summary_json, rows_of

FIGURES = shown_in("compare")
ABSENT = "absent"


def finite(*values: Any) -> bool:
    """Both sides hold a number that arithmetic means something on (not NaN, not > cap)."""
    return all(not missing(v) and not math.isinf(v) for v in values)


def fmt_delta(column: str, a: Any, b: Any) -> str:
    """B - A in the figure's unit; ratios in percentage points, since % of % misleads."""
    if not finite(a, b):
        return NONE
    delta = b - a
    if column.endswith("_ratio"):
        return f"{delta * 100:+.2g} pp" if delta else "0 pp"
    if delta == 0:
        return "0"
    if abs(delta) < 10:  # a small ms figure, a herd size, a rate: not rounded to nothing
        return f"{delta:+.2f}" if column.endswith("_ms") else f"{delta:+.3g}"
    return f"{delta:+,.0f}"


def fmt_ratio(a: Any, b: Any) -> str:
    """B / A, undefined (-) when A is zero, missing or infinite."""
    if not finite(a, b) or a == 0:
        return NONE
    return f"{b / a:.2f}x"


def run_header(label: str, folder: Path, manifest: dict[str, Any]) -> str:
    git = manifest["git"]
    commit = (git.get("commit") or "unknown")[:12] + ("+dirty" if git.get("dirty") else "")
    cells = [label, folder.name, manifest["config"]["scenario"], commit, manifest["status"],
             manifest["started_at"]]  # fmt: skip
    return "| " + " | ".join(md_escape(c) for c in cells) + " |"


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """`users: 20 → 50` for each config value that differs (results path aside)."""

    def show(value: Any) -> str:
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    keys = [k for k in dict.fromkeys([*a, *b]) if k != "results" and a.get(k) != b.get(k)]
    return [f"{k}: {show(a.get(k, ABSENT))} → {show(b.get(k, ABSENT))}" for k in keys]


def paired(order: list[str], rows_a: dict[str, Any], rows_b: dict[str, Any]) -> list[tuple]:
    """(name, row of A, row of B) per strategy. Two runs of one strategy each under
    different names (our `delete` against the user's service) are one pair, "a vs b":
    the review's table, not two halves marked absent."""
    if len(rows_a) == len(rows_b) == 1 and not set(rows_a) & set(rows_b):
        (name_a, row_a), (name_b, row_b) = *rows_a.items(), *rows_b.items()
        return [(f"{name_a} vs {name_b}", row_a, row_b)]
    return [(name, rows_a.get(name), rows_b.get(name)) for name in order]


def summary_rows(folder: Path) -> dict[str, dict[str, Any]]:
    """Per strategy its figures (`f`, and `f_ci` with repeats): summary.json, or summary.csv
    for a run analysed before summary.json existed."""
    if RunFolder(folder).summary_json.is_file():
        rows = rows_of(read_summary_json(folder))
    else:
        rows = read_table(RunFolder(folder).summary).to_dict("records")
    return {row["strategy"]: row for row in rows}


def figure_text(column: str, row: dict[str, Any]) -> str:
    return fmt_interval(column, row.get(column), row.get(f"{column}_ci", math.nan))


def apart(column: str, row_a: dict[str, Any] | None, row_b: dict[str, Any] | None) -> str:
    """`yes` when the two intervals do not overlap, `no` when they do, `-` without both."""
    if row_a is None or row_b is None:
        return NONE
    said = distinguishable(row_a, row_b, column)
    return NONE if said is None else ("yes" if said else "no")


def compare(a: Path, b: Path) -> str:
    """Markdown: a header naming both runs, then per strategy A, B, B - A and B / A (and,
    with repeats, whether the difference is beyond the intervals)."""
    manifests = read_manifest(a), read_manifest(b)
    rows_a, rows_b = summary_rows(a), summary_rows(b)
    repeated = any(int(r.get("repeats") or 1) > 1 for r in [*rows_a.values(), *rows_b.values()])
    order = list(dict.fromkeys([*strategy_order(manifests[0]), *rows_a,
                                *strategy_order(manifests[1]), *rows_b]))  # fmt: skip
    lines = [
        f"# Comparing {md_escape(a.name)} (A) with {md_escape(b.name)} (B)",
        "",
        "| run | folder | scenario | commit | status | started |",
        "|---|---|---|---|---|---|",
        run_header("A", a, manifests[0]),
        run_header("B", b, manifests[1]),
        "",
    ]
    differences = config_differences(manifests[0]["config"], manifests[1]["config"])
    lines += [f"Config differences: {md_escape('; '.join(differences))}." if differences
              else "Same config in both runs.", ""]  # fmt: skip
    if repeated:
        lines += ["With repeats: ± is the 95% half-width; `beyond noise` says whether the two"
                  " intervals are apart.", ""]  # fmt: skip
    extra = (" beyond noise |", "---:|") if repeated else ("", "")
    lines += [f"| strategy | figure | A | B | B - A | B / A |{extra[0]}",
              f"|---|---|---:|---:|---:|---:|{extra[1]}"]  # fmt: skip
    for name, row_a, row_b in paired(order, rows_a, rows_b):
        if row_a is None and row_b is None:  # e.g. failed verification in both runs
            lines.append(f"| {md_escape(name)} | not measured | {ABSENT} | {ABSENT} | - | - |"
                         + (" - |" if repeated else ""))  # fmt: skip
            continue
        for i, column in enumerate(FIGURES):
            va = row_a.get(column) if row_a else None  # a column newer than the run: None
            vb = row_b.get(column) if row_b else None
            cells = [
                md_escape(name) if i == 0 else "",
                heading(column),
                figure_text(column, row_a) if row_a else ABSENT,
                figure_text(column, row_b) if row_b else ABSENT,
                fmt_delta(column, va, vb),
                fmt_ratio(va, vb),
                *([apart(column, row_a, row_b)] if repeated else []),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_compare(a: Path, b: Path, out: Path | None = None) -> Path:
    """Write `compare(a, b)` to `out`, by default `<b>/compare-<a.name>.md`; returns the path."""
    path = out or RunFolder(b).comparison(a)
    write_whole(path, compare(a, b))
    return path
