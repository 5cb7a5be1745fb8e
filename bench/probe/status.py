"""The probe's status file, beside its CSV: how the probe ended, for the harness to say.

The probe runs with its exit expected (it may finish before the load does), on this
machine or in a container, so its exit code is not what the harness reads: the probe
writes `<out>.json` when it starts (`running`) and again when it ends, `ended` (its
duration ran out, or it was asked to stop) or `stopped` (it could not go on: `reason`,
`at_s` from its start). A file still `running` after the probe was stopped means it died
without a word (killed); no file, that it never started. `stopped_early` turns any of
those into the record the harness keeps in run.json as the strategy's `probe_stopped`.

Pure file I/O and no aiohttp, so the harness imports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def status_path(out: Path) -> Path:
    """Where the probe writing `out` keeps its status (`RunFolder.probe_status` agrees)."""
    return out.with_suffix(".json")


def write_status(path: Path, status: dict[str, Any]) -> None:
    """The status, whole or not at all (written aside, then renamed)."""
    aside = path.with_name(path.name + ".part")
    aside.write_text(json.dumps(status) + "\n", encoding="utf-8")
    aside.replace(path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The status the probe last wrote; None when there is none or it does not parse."""
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def stopped_early(path: Path, log: Path) -> dict[str, Any] | None:
    """`{"at_s": T, "reason": "...", "how": ...}` when the probe whose status is at `path`
    stopped before it was asked to, T seconds after its start (None: unknown); None when
    it ended as asked. `how`: "stopped" (it said why), "killed" (it said nothing: its
    status still says `running`), "absent" (no status at all: it never started, or wrote
    where the harness does not look). `log`, the probe's output, is named when it did not
    say why."""
    status = read_status(path)
    if status is None:
        reason = f"the probe left no status: it did not start, or wrote elsewhere (see {log})"
        return {"at_s": None, "reason": reason, "how": "absent"}
    if status.get("state") == "stopped":
        reason = str(status.get("reason") or "unknown")
        return {"at_s": status.get("at_s"), "reason": reason, "how": "stopped"}
    if status.get("state") == "running":  # how long it lived: until its last write
        started_ns, csv = status.get("started_ns"), path.with_suffix(".csv")
        last = max((p.stat().st_mtime_ns for p in (path, csv) if p.exists()), default=None)
        at_s = None
        if isinstance(started_ns, int) and last is not None:
            at_s = round(max(0, last - started_ns) / 1e9, 1)
        reason = f"the probe ended without a word, killed? (see {log})"
        return {"at_s": at_s, "reason": reason, "how": "killed"}
    return None


def stop_sentence(stop: dict[str, Any]) -> str:
    """`probe stopped at 3.2 s: reason`, as the report and the console say it."""
    when = "" if stop.get("at_s") is None else f" at {stop['at_s']:g} s"
    return f"probe stopped{when}: {stop.get('reason', 'unknown')}"
