"""`summary.json`: the run's summary for machines, beside summary.csv.

What a pipeline needs without parsing prose: the schema version, the run's config and
status, per strategy every catalogued figure (its value, or its mean and 95% half-width
with repeats), the report's verdict line and the promise verified before the load, and,
when the run was given a budget, each limit's verdict and the pick. Its JSON Schema is
docs/summary.schema.json; `bench check` and `bench compare` read it.

JSON has no infinity: a figure beyond what could be measured (a censored probe tail) is the
string "inf"; a figure that does not apply is null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.analysis.budget import Budget
from bench.analysis.columns import CATALOGUE
from bench.disk import write_whole
from bench.layout import RunFolder
from bench.report.decision import RULE, decide

SCHEMA_VERSION = 1
TEXT = ("strategy", "scenario")
FIGURES: tuple[str, ...] = tuple(c.name for c in CATALOGUE if c.name not in TEXT)


class SummaryUnreadable(ValueError):
    """A summary.json missing, unparseable, or of a schema version this tool does not read."""


def number(value: Any) -> float | str | None:
    """A figure as JSON holds it: a number, "inf" / "-inf", or null for NaN and absence."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def from_json(value: Any) -> float:
    """The inverse of `number`: NaN for null."""
    if value is None:
        return math.nan
    return float(value)  # float("inf") parses "inf"


def figures(row: Mapping[str, Any]) -> dict[str, dict[str, float | str | None]]:
    return {
        name: {"value": number(row.get(name)), "ci95": number(row.get(f"{name}_ci"))}
        for name in FIGURES
    }


def budget_part(rows: Sequence[Mapping[str, Any]], budget: Budget) -> dict[str, Any]:
    decision = decide(rows, budget)
    pick = decision.pick
    return {
        "limits": budget.as_json(),
        "rule": RULE,
        "meeting": [decision.rows[i]["strategy"] for i in decision.order],
        "pick": pick["strategy"] if pick else None,
        "verdicts": {
            row["strategy"]: [
                {
                    "option": v.limit.option,
                    "figure": v.limit.figure,
                    "limit": v.threshold,
                    "value": number(v.value),
                    "at_interval_end": v.at_interval_end,
                    "holds": v.holds,
                }
                for v in verdicts
            ]
            for row, verdicts in zip(decision.rows, decision.verdicts, strict=True)
        },
    }


def document(
    manifest: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    words: Mapping[str, tuple[str, str | None, str]],
    budget: Budget | None,
) -> dict[str, Any]:
    """The whole summary.json: `rows` the summary rows in run order (means with `_ci` and
    `repeats` for a run with repeats), `words` per strategy (status, claim, verdict)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": manifest.get("kind", "run"),
        "status": manifest.get("status"),
        "reason": manifest.get("reason"),
        "config": manifest.get("config", {}),
        "repeats": int(max((row.get("repeats") or 1 for row in rows), default=1)),
        "strategies": [
            {
                "name": row["strategy"],
                "status": words[row["strategy"]][0],
                "claim": words[row["strategy"]][1],
                "verdict": words[row["strategy"]][2],
                "repeats": int(row.get("repeats") or 1),
                "figures": figures(row),
            }
            for row in rows
        ],
        "budget": budget_part(rows, budget) if budget else None,
    }


def write_summary_json(folder: Path, doc: Mapping[str, Any]) -> Path:
    path = RunFolder(folder).summary_json
    write_whole(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return path


def read_summary_json(folder: Path) -> dict[str, Any]:
    """A run folder's summary.json, checked for a schema version this tool reads."""
    path = RunFolder(folder).summary_json
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise SummaryUnreadable(
            f"{folder} has no summary.json; run `cache-bench report {folder}`"
        ) from None
    except (OSError, ValueError) as exc:
        raise SummaryUnreadable(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        raise SummaryUnreadable(
            f"{path} has schema_version {version!r}; this version of the tool reads"
            f" {SCHEMA_VERSION}"
        )
    return doc


def rows_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each strategy of a summary.json as a summary row (`f`, `f_ci`, `repeats`), the shape
    the budget's judgement reads."""
    rows = []
    for strategy in doc["strategies"]:
        row: dict[str, Any] = {"strategy": strategy["name"], "repeats": strategy["repeats"]}
        for name, figure in strategy["figures"].items():
            row[name] = from_json(figure.get("value"))
            row[f"{name}_ci"] = from_json(figure.get("ci95"))
        rows.append(row)
    return rows
