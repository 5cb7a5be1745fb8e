"""One `bench run`, read top to bottom as the experiment it is, on any runtime.

For each strategy in turn, on a clean Redis and a freshly seeded origin: deploy, verify,
load with the probe beside it, stop. Then analyse and report. Strategies never run side
by side; the runtime stops everything it started, also on failure and Ctrl-C; the
manifest says how the run ended. A disk that fills, whoever finds it (the harness
writing run.json, a child writing its rows, analysis, the report), ends the run here:
`failed`, one line naming the folder and "no space left" (`bench.disk`).
"""

from __future__ import annotations

import json
import signal
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from bench.analysis.budget import Budget
from bench.analysis.summary import write_analysis
from bench.console import console, say
from bench.disk import DiskFull, as_disk_full, discard_derived, no_space, raise_if_full
from bench.faults.injector import write_faults
from bench.layout import RunFolder, count_rows
from bench.manifest import REPORT_NOT_WRITTEN, Manifest, create_run_folder, utc_now
from bench.probe.status import stop_sentence, stopped_early
from bench.report.run import build_report
from bench.run_config import RunConfig
from bench.runtime.base import Deployment, RunFailure, Runtime
from bench.runtime.signals import Interrupted, shielded
from bench.runtime.verify import VerifyFailed, claim

NOTHING_RECORDED = "no request was recorded"


class NothingRecorded(RunFailure):
    """A strategy's load left no row: it fails, and the run with it."""


@dataclass(frozen=True)
class RunOutcome:
    folder: Path
    status: str
    exit_code: int


def run_experiment(
    config: RunConfig, runtime: Runtime, folder: Path | None = None, budget: Budget | None = None
) -> RunOutcome:
    """Measure every strategy of `config` into a new run folder and report on it.

    `runtime` has passed its `check`. `folder`, when given, is the run folder to create (a
    sweep puts each cell at `cells/<cell-id>/`); it must not exist yet, so a folder is
    still written only once. `budget`, if any, is recorded for the report to open with.
    """
    if folder is None:
        folder = create_run_folder(config.results, config.scenario)
    else:
        folder.mkdir(parents=True)
    run = RunFolder(folder)
    manifest = Manifest(folder, config.as_json())
    manifest.data.update(runtime.facts())
    if budget:
        manifest.data["budget"] = budget.as_json()
    manifest.save()
    console.print(f"run folder: [bold]{folder}[/]")
    try:
        with runtime.session(config, run):
            for strategy in config.strategies:
                deployment = runtime.deploy(config, strategy, run)
                measure_strategy(deployment, strategy, run, manifest, config)
    except KeyboardInterrupt as exc:
        with shielded():
            manifest.finish("interrupted", f"stopped by {interruption(exc)}")
        console.print(f"[yellow]interrupted[/]; partial results in {folder}")
        console.print(f"rebuild its report with: cache-bench report {folder}")
        return RunOutcome(folder, "interrupted", interrupted_exit_code(exc))
    except (RunFailure, OSError) as exc:
        failure = as_disk_full(exc, folder) or exc
        with shielded():
            manifest.finish("failed", str(failure))
        if isinstance(failure, DiskFull):  # one line: the folder and "no space left"
            say("[red]run failed:[/]", str(failure))
        else:
            console.print(f"[red]run failed:[/] {exc}")
        return RunOutcome(folder, "failed", 1)
    except Exception as exc:  # a bug of ours: say so in run.json, then show the traceback
        with shielded():
            manifest.finish("failed", f"internal error: {type(exc).__name__}: {exc}")
        raise
    reason = unfinished(manifest.data["strategies"])
    manifest.finish("complete", reason)
    try:
        analyse_and_report(folder)
    except (DiskFull, OSError) as exc:
        if no_space(exc) is None:
            raise
        failure = report_not_written(folder)
        with shielded():
            manifest.data["report"] = REPORT_NOT_WRITTEN
            manifest.finish("failed", str(failure))
        say("[red]run failed:[/]", str(failure))
        return RunOutcome(folder, "failed", 1)
    return RunOutcome(folder, "complete", 0)


def report_not_written(folder: Path) -> DiskFull:
    """The disk filled while analysis or the report wrote: what they wrote goes (any of
    it may be partial; `bench report` rebuilds it all once there is room)."""
    discard_derived(RunFolder(folder))
    return DiskFull(folder, "the analysis and report were not written")


def unfinished(records: dict[str, dict]) -> str | None:
    """The strategies that did not complete, by what stopped them, for the run's reason."""
    unverified = [s for s, r in records.items() if r["status"] == "failed_verify"]
    failed = [s for s, r in records.items() if r["status"] not in ("complete", "failed_verify")]
    said = [f"strategies that failed verification: {', '.join(unverified)}"] * bool(unverified)
    said += [f"strategies that failed: {', '.join(failed)}"] * bool(failed)
    return "; ".join(said) or None


def interruption(exc: KeyboardInterrupt) -> str:
    """What stopped the run, in words for run.json."""
    if isinstance(exc, Interrupted) and exc.signum == signal.SIGTERM:
        return "SIGTERM"
    return "Ctrl-C (SIGINT)"


def interrupted_exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal, as a shell reports it: 130 for Ctrl-C, 143 for SIGTERM."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


def analyse_and_report(folder: Path) -> None:
    """Analysis reads only the run folder, so it runs after every process has stopped."""
    with console.status("analysing"):
        write_analysis(folder)
        markdown, html = build_report(folder)
    console.print(f"report: [bold]{html}[/]  (and {markdown.name})")


def measure_strategy(
    deploy: AbstractContextManager[Deployment],
    strategy: str,
    run: RunFolder,
    manifest: Manifest,
    config: RunConfig,
) -> None:
    """Start, verify, load (the probe beside it), stop: one strategy, recorded as it goes."""
    record = manifest.strategy(strategy)
    record.update(status="starting", started_at=utc_now())
    manifest.save()
    try:  # however it ends, the record must not stay `starting` or `running`
        measure_deployed(deploy, strategy, run, manifest, config)
    except KeyboardInterrupt as exc:
        with shielded():
            end(record, manifest, "interrupted", f"stopped by {interruption(exc)}")
        raise
    except BaseException as exc:
        said = str(as_disk_full(exc, run.path) or exc).splitlines()
        with shielded():
            end(record, manifest, "failed", said[0] if said else type(exc).__name__)
        raise


def end(record: dict, manifest: Manifest, status: str, reason: str) -> None:
    record.update(status=status, reason=reason, ended_at=utc_now())
    manifest.save_last()


def measure_deployed(
    deploy: AbstractContextManager[Deployment],
    strategy: str,
    run: RunFolder,
    manifest: Manifest,
    config: RunConfig,
) -> None:
    """The strategy's steps once its record says `starting`; the caller records failures."""
    record = manifest.strategy(strategy)
    before = run.request_files()
    with deploy as deployment:  # start; leaving it stops every part, however it is left
        record["replicas"] = [replica.record() for replica in deployment.replicas]
        manifest.save()
        unfresh = None
        try:  # a strategy that breaks its promise is reported, not measured
            deployment.verify()
        except VerifyFailed as exc:
            console.print(f"[red]{strategy}: failed verification:[/] {exc}")
            if not deployment.measured_despite_verify:
                record.update(status="failed_verify", reason=str(exc), ended_at=utc_now())
                manifest.save()
                return
            unfresh = str(exc)  # the user's service: a finding to measure, and to report
        record.update(status="running", claim=claim(strategy))
        manifest.save()
        load = deployment.run_load(config.faults)
    # a child whose rows found no room may still exit 0 (Locust does): look for ourselves
    raise_if_full(run.path, f"during {strategy}'s load")
    if load.faults:  # recorded before anything is analysed
        write_faults(run.faults, load.faults)
    # Every request sent leaves a row, so the rows are the truth; Locust's own counts
    # are recorded beside them. Rates are over the load's own time, `load_s`.
    rows = count_rows(run.request_files() - before)
    record.update(status="complete", ended_at=utc_now(), locust_exit_code=load.exit_code,
                  rows_recorded=rows, load_s=config.load_s)  # fmt: skip
    if rows == 0:  # nothing measured is no result: the strategy failed
        raise NothingRecorded(NOTHING_RECORDED)
    if unfresh is not None:
        record.update(status="failed_verify", reason=unfresh)
    note_channel(record, run, strategy)
    note_probe(record, run, strategy)
    said = f"{strategy}: {rows} requests recorded, {rows / config.load_s:.0f} rps"
    if load.requests is not None:
        record["locust_requests"] = load.requests
        if load.requests != rows:
            said += f" (Locust counted {load.requests})"
    if load.failures is not None:
        record["locust_failures"] = load.failures
        said += f", {load.failures} errors"
    manifest.save()
    console.print(said)


def note_channel(record: dict, run: RunFolder, strategy: str) -> None:
    """With Locust workers, what each sent over the channel and the master received
    (`scenarios.row_channel`), in the strategy's record; a loss is said at once."""
    path = run.locust_channel(strategy)
    if not path.is_file():
        return
    try:
        counts = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    record["row_channel"] = counts
    for worker, c in counts.items():
        if c.get("sent") != c.get("received"):
            sent = "no final count" if c.get("sent") is None else f"{c['sent']} rows"
            console.print(f"[yellow]{strategy}: worker {escape(worker)} sent {sent},"
                          f" the master received {c.get('received')}[/]")  # fmt: skip


def note_probe(record: dict, run: RunFolder, strategy: str) -> None:
    """A probe that stopped before it was asked to is said in the strategy's record
    (`probe_stopped`, which the report opens with); one that stopped, or was killed,
    with no cycle recorded at all fails the strategy: it has no figures of the probe's.
    (One that left no status at all, as under a stand-in engine, is said, no more.)"""
    stop = stopped_early(run.probe_status(strategy), run.logs(strategy) / "probe.log")
    if stop is None:
        return
    record["probe_stopped"] = stop
    console.print(f"[red]{strategy}: {escape(stop_sentence(stop))}[/]")
    probe = run.probe_file(strategy)
    cycles = probe.exists() and count_rows({probe}) > 0
    if record["status"] == "complete" and stop["how"] != "absent" and not cycles:
        record.update(status="failed", reason=f"{stop_sentence(stop)}; no probe cycle recorded")
