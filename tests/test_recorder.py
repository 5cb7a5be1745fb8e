"""The request recorder: its row format in isolation, then real Locust runs.

The end-to-end tests start one real replica (SQLite origin, the tests' private
redis-server) and run the locustfiles as their own processes, as the harness does:
Locust gevent-patches whatever imports it, so this test process never imports locust or
`scenarios.recorder`. They check that the CSV has exactly one row per request Locust
counted (in a plain run and with master + workers), and that the columns make sense.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bench.runtime.ports import free_port
from scenarios.parquet_copy import whole_copy
from scenarios.request_rows import (
    CACHE_VALUES,
    COLUMNS,
    TIMEOUT,
    UNANSWERED,
    UNPARSEABLE,
    RowWriter,
    answer_fields,
    failure_text,
    format_row,
    list_items,
    server_ms,
)
from tests.conftest import RedisProcess

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCTS = 200
CATEGORIES = 5
REPLICA_NAME = "recorder-test-replica"
STARTUP_TIMEOUT_S = 30.0
LOCUST_TIMEOUT_S = 90.0


# --- the row format, no Locust ------------------------------------------------------


def test_a_product_answer_is_read_by_its_top_level_version() -> None:
    body = b'{"id":17,"name":"a \\"version\\": 9","price":1.5,"category":"c6","version":42}'
    assert answer_fields("read", body) == ("42", "", "")
    assert answer_fields("write", body) == ("42", "", "")
    nested = b'{"id":17,"supplier":{"name":"acme","version":1},"version":42}'
    assert answer_fields("read", nested) == ("42", "", ""), "a nested version is not the product's"


@pytest.mark.parametrize(
    "body",
    [
        b'{"id":17,"name":"x","version":4',  # cut off mid-body
        b'{"id":17,"supplier":{"version":1}}',  # only a nested version
        b'{"id":17,"version":"4"}',  # a string is no version
        b'{"id":17,"version":true}',
        b'{"detail":"Not Found"}',
        b"[17, 4]",
        b"",
        None,
    ],
)
def test_a_product_answer_without_a_version_is_unparseable(body: bytes | None) -> None:
    assert answer_fields("read", body) == ("", "", UNPARSEABLE)


def test_list_items_pairs_each_id_with_its_version() -> None:
    body = json.dumps(
        {
            "category": "c1",
            "items": [
                {"id": 2, "name": "x", "price": 1.0, "category": "c1", "version": 3},
                {"version": 1, "id": 12, "supplier": {"id": 9, "version": 7}},
            ],
        },
        separators=(",", ":"),
    ).encode()
    assert list_items(body) == "2:3 12:1"
    assert answer_fields("list", body) == ("", "2:3 12:1", "")
    assert answer_fields("list", b'{"category":"c1","items":[]}') == ("", "", ""), "empty, read"


@pytest.mark.parametrize(
    "body",
    [
        b'{"category":"c1","items":[{"id":2,"version":3},{"id":12}]}',  # an item lacks it
        b'{"category":"c1","items":[{"id":2,"version":3},{"id":12,"ver',  # cut off
        b'{"category":"c1"}',
        b'{"category":"c1","items":{"id":2,"version":3}}',
        b"",
    ],
)
def test_a_list_answer_that_does_not_read_is_unparseable(body: bytes) -> None:
    assert list_items(body) is None
    assert answer_fields("list", body) == ("", "", UNPARSEABLE)


class Timeout(BaseException):
    """Stands for gevent's Timeout, which is no TimeoutError."""


class RetriesExceeded(Exception):
    """Stands for a client's wrapper of the cause (geventhttpclient keeps it as `original`)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__("retries exceeded")
        self.original = original


@pytest.mark.parametrize(
    ("exception", "said"),
    [
        (None, ""),
        (TimeoutError("timed out"), TIMEOUT),
        (Timeout(), TIMEOUT),
        (RetriesExceeded(TimeoutError()), TIMEOUT),
        (ConnectionRefusedError(111, "refused"), "ConnectionRefusedError"),
        (RetriesExceeded(ConnectionResetError()), "ConnectionResetError"),
        (ValueError("odd"), "ValueError"),
    ],
)
def test_a_request_without_an_answer_names_why(exception: BaseException | None, said: str) -> None:
    assert failure_text(exception) == said


def _line(key: int) -> str:
    return format_row("delete", "read", str(key), 1, 2, 0.001, 200, "1", "", "miss", "r1", "w-1")


def test_an_error_is_the_last_field_and_quoted_when_it_needs_it() -> None:
    line = format_row("x", "read", "1", 1, 2, 1.0, 0, "", "", "", "r", "w", "", "", "Odd,Error")
    [fields] = list(csv.reader(io.StringIO(line)))
    assert len(fields) == len(COLUMNS) and COLUMNS[-1] == "error"
    assert fields[-1] == "Odd,Error" and fields[6] == "0"


def test_format_row_is_csv_that_reads_back_field_for_field() -> None:
    line = format_row(
        "delete",
        "list",
        "c3",
        10,
        2_000_010,
        2.0004,
        200,
        "",
        "3:1 13:2",
        "redis",
        'odd, "replica"',
        "host-1",
        "0.125",
        "1700000000000000000",
        "",
    )
    assert line.endswith("\n")
    [fields] = list(csv.reader(io.StringIO(line)))
    assert fields == [
        "delete",
        "list",
        "c3",
        "10",
        "2000010",
        "2.000",
        "200",
        "",
        "3:1 13:2",
        "redis",
        'odd, "replica"',
        "host-1",
        "0.125",
        "1700000000000000000",
        "",
    ]
    assert len(fields) == len(COLUMNS)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("app;dur=0.125", "0.125"),
        ('db;dur=3, app;desc="replica";dur=12', "12"),
        ("cache;dur=1,app;dur=2.5", "2.5"),
        ("total;dur=9", ""),  # no app metric
        ("app;dur=1e3", ""),  # not a plain decimal: nothing, rather than a wrong number
        ("app;dur=-1", ""),
        ("", ""),
    ],
)
def test_server_ms_is_the_app_metrics_duration_and_only_digits(header: str, expected: str) -> None:
    assert server_ms(header) == expected


def test_row_writer_writes_one_header_and_every_row_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "requests" / "w-1.csv"
    writer = RowWriter(path, batch_rows=3, batch_seconds=3600)
    writer.add(_line(1))
    writer.add(_line(2))
    assert not path.exists()  # still buffered
    writer.add(_line(3))  # batch full
    writer.add(_line(4))
    writer.flush()
    writer.flush()  # nothing left: must not write a second header or duplicate rows
    with path.open(newline="") as file:
        lines = list(csv.reader(file))
    assert lines[0] == list(COLUMNS)
    assert [line[2] for line in lines[1:]] == ["1", "2", "3", "4"]
    assert writer.rows_written == 4


def test_row_writer_flushes_after_its_interval(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    writer = RowWriter(path, batch_rows=1000, batch_seconds=0.0)
    writer.add(_line(1))
    assert path.exists()


def test_row_writer_without_rows_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "master.csv"
    RowWriter(path).flush()
    assert not path.exists()


# --- real Locust runs against a real replica ---------------------------------------


def _wait_healthy(url: str, replica: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if replica.poll() is not None:
            pytest.fail(f"replica exited with {replica.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # poll interval; the bound is the deadline above
    pytest.fail(f"replica not healthy within {STARTUP_TIMEOUT_S}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def replica_url(
    tmp_path_factory: pytest.TempPathFactory, redis_proc: RedisProcess
) -> Iterator[str]:
    """One seeded `delete` replica on a free port, on the tests' private redis-server,
    stopped by its PID afterwards."""
    workdir = tmp_path_factory.mktemp("replica")
    database_url = f"sqlite:///{workdir / 'origin.db'}"
    seed = [BIN / "python", "-m", "bench", "seed", "--database-url", database_url]
    subprocess.run(
        [*seed, "--products", str(PRODUCTS), "--categories", str(CATEGORIES)],
        cwd=REPO,
        check=True,
        timeout=60,
        capture_output=True,
    )
    port = free_port()
    env = {
        **os.environ,
        "CACHE_STRATEGY": "delete",
        "REDIS_URL": f"redis://127.0.0.1:{redis_proc.port}/15",
        "DATABASE_URL": database_url,
        "REPLICA_NAME": REPLICA_NAME,
    }
    log = workdir / "replica.log"
    with log.open("wb") as log_file:
        replica = subprocess.Popen(
            [BIN / "python", "-m", "services", "--bind", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, replica, log)
        yield url
    finally:
        replica.terminate()
        try:
            replica.wait(timeout=15)
        except subprocess.TimeoutExpired:
            replica.kill()
            replica.wait(timeout=15)


def locust_env(replica_url: str, run_dir: Path, record: bool = True) -> dict[str, str]:
    env = {
        **os.environ,
        "BENCH_RUN_DIR": str(run_dir),
        "BENCH_STRATEGY": "delete",
        "BENCH_TARGETS": replica_url,
        "BENCH_PRODUCTS": str(PRODUCTS),
        "BENCH_CATEGORIES": str(CATEGORIES),
        "BENCH_SEED": "7",
        "BENCH_RECORD": "1" if record else "0",
    }
    env.pop("BENCH_USER_RATE", None)
    return env


def locust_command(scenario: str, run_dir: Path, run_time: str, *extra: str) -> list[str]:
    # --json-file is written after the runner quit: the final counts (the --csv stats
    # file is rewritten on a timer and can lag behind the last requests).
    return [
        str(BIN / "locust"),
        *("-f", f"scenarios/{scenario}.py", "--headless", "-u", "10", "-r", "10"),
        *("--run-time", run_time, "--only-summary", "--json-file", str(run_dir / "locust")),
        # as the harness runs it: a request still in flight when the workers quit is
        # recorded as given up (a failure, and a row), which is data, not a failed run
        *("--exit-code-on-error", "0"),
        *extra,
    ]


def final_stats(run_dir: Path) -> list[dict]:
    """Locust's final per-endpoint stats, from --json-file."""
    return json.loads((run_dir / "locust.json").read_text())


def run_locust(
    scenario: str, replica_url: str, run_dir: Path, *extra: str, record: bool = True
) -> list[dict]:
    """Run a locustfile headless for 3 s; return Locust's final per-endpoint stats."""
    done = subprocess.run(
        locust_command(scenario, run_dir, "3s", *extra),
        cwd=REPO,
        env=locust_env(replica_url, run_dir, record),
        capture_output=True,
        text=True,
        timeout=LOCUST_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return final_stats(run_dir)


def read_request_files(run_dir: Path) -> dict[str, list[dict[str, str]]]:
    """Every request file of a run: file stem -> rows; checks the header on the way."""
    files = {}
    for path in sorted((run_dir / "requests").glob("*.csv")):
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            assert tuple(reader.fieldnames or ()) == COLUMNS
            files[path.stem] = list(reader)
    return files


def copied_rows(run_dir: Path, stem: str) -> int | None:
    """The rows of a request file's whole Parquet copy; None without one."""
    copy = whole_copy(run_dir / "requests" / f"{stem}.csv")
    return None if copy is None else pq.read_metadata(copy).num_rows


def counts_by_endpoint(stats: list[dict]) -> dict[tuple[str, str], int]:
    return {(entry["method"], entry["name"]): entry["num_requests"] for entry in stats}


def check_common_columns(rows: list[dict[str, str]], worker: str, started_ns: int) -> None:
    now_ns = time.time_ns()
    for row in rows:
        assert row["strategy"] == "delete"
        assert row["status"] == "200"
        assert row["cache"] in CACHE_VALUES
        assert row["replica"] == REPLICA_NAME
        assert row["worker"] == worker
        t_start, t_end = int(row["t_start_ns"]), int(row["t_end_ns"])
        assert started_ns <= t_start <= t_end <= now_ns
        assert (t_end - t_start) / 1e6 == pytest.approx(float(row["latency_ms"]), abs=0.01)
        assert 0 < float(row["server_ms"]) <= float(row["latency_ms"])


def check_product_rows(rows: list[dict[str, str]]) -> None:
    write_versions: dict[str, list[int]] = collections.defaultdict(list)
    for row in rows:
        assert row["op"] in ("read", "write")
        assert 1 <= int(row["key"]) <= PRODUCTS
        assert int(row["version"]) >= 1
        assert row["items"] == ""
        if row["op"] == "write":
            write_versions[row["key"]].append(int(row["version"]))
    # The origin bumps a version atomically: two writes of one key never get the same one.
    for versions in write_versions.values():
        assert len(versions) == len(set(versions))


@pytest.mark.slow
@pytest.mark.run  # real Locust load: one at a time, never beside another test
def test_read_mostly_records_one_row_per_request(replica_url: str, tmp_path: Path) -> None:
    started_ns = time.time_ns()
    stats = run_locust("read_mostly", replica_url, tmp_path)
    files = read_request_files(tmp_path)
    assert len(files) == 1, "one Locust process, one file"
    [(worker, rows)] = files.items()
    counts = counts_by_endpoint(stats)
    assert len(rows) == sum(counts.values()) > 100
    assert copied_rows(tmp_path, worker) == len(rows), "sealed as Locust quit"
    ops = collections.Counter(row["op"] for row in rows)
    assert ops["read"] == counts[("GET", "/products/{id}")]
    assert ops["write"] == counts[("PATCH", "/products/{id}")]
    assert ops["write"] < ops["read"]  # 95/5
    check_common_columns(rows, worker, started_ns)
    check_product_rows(rows)
    assert any(row["cache"] != "miss" for row in rows), "zipfian reads should hit the cache"


@pytest.mark.slow
@pytest.mark.run  # real Locust load: one at a time, never beside another test
def test_lists_records_embedded_products(replica_url: str, tmp_path: Path) -> None:
    started_ns = time.time_ns()
    stats = run_locust("lists", replica_url, tmp_path)
    [(worker, rows)] = read_request_files(tmp_path).items()
    assert len(rows) == sum(counts_by_endpoint(stats).values())
    check_common_columns(rows, worker, started_ns)
    lists = [row for row in rows if row["op"] == "list"]
    assert lists
    for row in lists:
        assert row["version"] == ""
        category_index = int(row["key"].removeprefix("c"))
        pairs = [item.split(":") for item in row["items"].split(" ")]
        # The seed puts product i in c{(i-1) % C}; every load product of it is listed.
        assert len(pairs) >= PRODUCTS // CATEGORIES
        for product_id, version in pairs:
            assert int(version) >= 1
            if int(product_id) <= PRODUCTS:
                assert (int(product_id) - 1) % CATEGORIES == category_index
    check_product_rows([row for row in rows if row["op"] != "list"])


@pytest.mark.slow
@pytest.mark.run  # real Locust load: one at a time, never beside another test
def test_master_with_workers_writes_one_file_per_worker(replica_url: str, tmp_path: Path) -> None:
    started_ns = time.time_ns()
    stats = run_locust("read_mostly", replica_url, tmp_path, "--processes", "2")
    files = read_request_files(tmp_path)
    assert len(files) == 2, f"two workers, no master file: {sorted(files)}"
    assert sum(len(rows) for rows in files.values()) == sum(counts_by_endpoint(stats).values())
    for worker, rows in files.items():
        # a request still in flight when the master told the workers to quit is recorded
        # as given up (status 0, error unanswered): a row like any other, not an answer
        given_up = [row for row in rows if row["error"] == UNANSWERED]
        assert all(row["status"] == "0" for row in given_up)
        answered = [row for row in rows if row["error"] != UNANSWERED]
        assert answered, f"worker {worker} recorded nothing"
        check_common_columns(answered, worker, started_ns)
        check_product_rows(answered)
        assert copied_rows(tmp_path, worker) == len(rows)


@pytest.mark.slow
@pytest.mark.run  # real Locust load: one at a time, never beside another test
def test_bench_record_0_records_nothing(replica_url: str, tmp_path: Path) -> None:
    stats = run_locust("read_mostly", replica_url, tmp_path, record=False)
    assert sum(counts_by_endpoint(stats).values()) > 0
    assert not (tmp_path / "requests").exists()


@pytest.mark.slow
@pytest.mark.run  # real Locust load: one at a time, never beside another test
def test_sigterm_mid_run_loses_no_row(replica_url: str, tmp_path: Path) -> None:
    with (tmp_path / "locust.log").open("wb") as log:
        locust = subprocess.Popen(
            locust_command("update_heavy", tmp_path, "60s"),
            cwd=REPO,
            env=locust_env(replica_url, tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Stop once the first batch is on disk, i.e. mid-run with rows still buffered.
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not list((tmp_path / "requests").glob("*.csv")):
            assert locust.poll() is None, (tmp_path / "locust.log").read_text()
            assert time.monotonic() < deadline, "no request file within the startup timeout"
            time.sleep(0.05)  # poll interval; the bound is the deadline above
        locust.terminate()
        assert locust.wait(timeout=LOCUST_TIMEOUT_S) == 0
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait(timeout=15)
    [(worker, rows)] = read_request_files(tmp_path).items()
    assert len(rows) == sum(counts_by_endpoint(final_stats(tmp_path)).values()) > 0
    assert copied_rows(tmp_path, worker) == len(rows), "a terminated Locust seals its copy"


def test_a_row_reaches_the_disk_without_a_later_request_to_flush_it(tmp_path: Path) -> None:
    """One request, then none for 100 s: only the recorder's own timer can write its row
    before the test stops, so a SIGKILL then loses nothing (the loss is bounded in time)."""
    env = {**locust_env(f"http://127.0.0.1:{free_port()}", tmp_path), "BENCH_USER_RATE": "0.01"}
    command = [str(BIN / "locust"), "-f", "scenarios/read_mostly.py", "--headless", "-u", "1",
               "-r", "1", "--run-time", "60s", "--only-summary"]  # fmt: skip
    with (tmp_path / "locust.log").open("wb") as log:
        locust = subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not read_request_files(tmp_path):
            assert locust.poll() is None, (tmp_path / "locust.log").read_text()
            assert time.monotonic() < deadline, "the row never reached the disk"
            time.sleep(0.05)  # poll interval; the bound is the deadline above
        assert locust.poll() is None, "Locust ended, so its stop flushed the row, not the timer"
        locust.kill()
        locust.wait(timeout=15)
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait(timeout=15)
    [(worker, rows)] = read_request_files(tmp_path).items()
    assert [(row["op"], row["status"]) for row in rows] == [("read", "0")]  # refused: no answer
    assert copied_rows(tmp_path, worker) is None, "a killed Locust's copy is not whole"
