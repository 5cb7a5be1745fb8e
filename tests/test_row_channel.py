"""Rows from Locust workers to the master over Locust's own messaging (scenarios.row_channel):
real runs with a master and two workers, whose rows reach the run folder with nothing
written by the workers themselves, counted on both sides; and a worker killed mid-run,
which the run survives and names."""

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.report.setup import channel_words
from bench.runtime.waiting import wait_until
from scenarios.row_channel import RowReceiver
from tests.test_run import descendants

RUN = [sys.executable, "-m", "bench", "run", "--strategies", "delete", "--replicas", "1",
       "--locust-workers", "2", "--rate", "100", "--users", "4"]  # fmt: skip


def the_run(results: Path) -> tuple[Path, dict]:
    [folder] = [p for p in results.iterdir() if p.is_dir()]
    return folder, json.loads((folder / "run.json").read_text())


def data_rows(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


@pytest.mark.run
@pytest.mark.harness  # asserts where the rows go, not figures
def test_workers_rows_arrive_through_the_master_and_are_counted(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run([*RUN, "--duration", "3", "--results", str(results)],
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    folder, manifest = the_run(results)
    record = manifest["strategies"]["delete"]
    counts = record["row_channel"]
    assert len(counts) == 2, "one entry per worker"
    files = {p.stem: data_rows(p) for p in (folder / "requests").glob("*.csv")}
    assert set(files) == set(counts), "a file per worker, written by the master"
    for worker, c in counts.items():
        assert c["sent"] == c["received"] == files[worker] > 0
    assert sum(files.values()) == record["rows_recorded"]
    report = (folder / "report.md").read_text()
    assert "rows over Locust's channel" in report and "every row received" in report


@pytest.mark.run  # one at a time (make test's second pass): it failed once beside another
# test on two busy cores, and a kill's timing is what it is about
def test_a_worker_killed_mid_run_is_named_and_the_run_completes(tmp_path: Path) -> None:
    results = tmp_path / "results"
    harness = subprocess.Popen([*RUN, "--duration", "15", "--results", str(results)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:

        def a_worker_with_rows() -> int | None:
            """A Locust worker whose own rows have reached its file (`hostname-pid`)."""
            arrived = {p.stem for p in results.glob("*/requests/*.csv")}
            for pid in descendants(harness.pid):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"--worker" in argv and f"{socket.gethostname()}-{pid}" in arrived:
                    return pid
            return None

        found: list[int] = []

        def found_one() -> bool:
            pid = a_worker_with_rows()
            found.extend([pid] if pid else [])
            return bool(found)

        wait_until(found_one, 60, what="a Locust worker whose rows have begun to arrive",
                   poll_interval_s=0.2)  # fmt: skip
        os.kill(found[0], signal.SIGKILL)
        _, err = harness.communicate(timeout=180)
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGTERM)
            harness.wait(timeout=60)
    assert harness.returncode == 0, err[-3000:]
    folder, manifest = the_run(results)
    counts = manifest["strategies"]["delete"]["row_channel"]
    lost = [w for w, c in counts.items() if c["sent"] is None]
    assert lost == [f"{socket.gethostname()}-{found[0]}"] and counts[lost[0]]["received"] > 0
    [whole] = [w for w in counts if w not in lost]
    assert counts[whole]["sent"] == counts[whole]["received"] > 0
    assert f"{lost[0]} sent no final count" in (folder / "report.md").read_text()


def test_the_channel_in_words() -> None:
    assert channel_words(None) == ""
    whole = {"a-1": {"sent": 10, "received": 10}, "b-2": {"sent": 5, "received": 5}}
    assert channel_words(whole) == (
        "; rows over Locust's channel: 15 from 2 workers, each one's every row received"
    )
    short = {"a-1": {"sent": 10, "received": 7}, "b-2": {"sent": None, "received": 3}}
    said = channel_words(short)
    assert "a-1 sent 10, 7 received (3 lost)" in said and "b-2 sent no final count" in said


@dataclass
class Message:
    """What a handler reads of Locust's message: its data (importing Locust here would
    patch the test process with gevent)."""

    data: dict


def test_a_worker_that_said_its_name_and_sent_nothing_is_named(tmp_path: Path) -> None:
    """A worker killed before its first batch has only its hello: it is counted, with no
    final count and nothing received, beside one whose rows all came."""
    receiver = RowReceiver(tmp_path, tmp_path / "locust_channel.json")
    receiver.on_hello(None, Message({"worker": "host-1"}))
    receiver.on_hello(None, Message({"worker": "host-2"}))
    receiver.on_rows(None, Message({"worker": "host-2", "rows": "a\nb\n", "count": 2}))
    receiver.on_done(None, Message({"worker": "host-2", "sent": 2}))
    receiver.write_counts()
    counts = json.loads((tmp_path / "locust_channel.json").read_text())
    assert counts == {"host-1": {"sent": None, "received": 0}, "host-2": {"sent": 2, "received": 2}}
    assert "host-1 sent no final count" in channel_words(counts)
