"""`--percentiles`: the report's latency table and tail plot at the percentiles asked for,
each an exact percentile of the recorded rows, kept in run.json so a rebuilt report shows
the same ones. End to end through the command's code, on a folder of raw request rows."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.percentiles import label, record, with_quantiles
from bench.analysis.summary import CDF_QUANTILES
from bench.report.numbers import fmt_ms
from bench.report.plots import tail_marks
from bench.run_config import ConfigError, RunConfig, parse_percentiles
from tests.cli_inproc import cache_bench
from tests.raw_runs import write_raw_run

ORDER = ["marker", "delete"]


def stored_latencies(folder: Path, strategy: str, op: str) -> np.ndarray:
    """The latencies of `strategy`'s answered `op` rows, read straight from the raw files."""
    rows = pd.concat(pd.read_csv(p) for p in sorted((folder / "requests").glob("*.csv")))
    rows = rows[(rows["strategy"] == strategy) & (rows["op"] == op) & (rows["status"] == 200)]
    return rows["latency_ms"].to_numpy()


def latency_table(markdown: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header and the rows by strategy of the report's "Latency" table."""
    section = markdown.split("### Latency\n", 1)[1].split("###", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return cells[0], {row[0]: row[1:] for row in cells[1:]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_raw_run(tmp_path_factory.mktemp("results") / "run", ORDER)


def test_by_default_the_report_shows_p50_p99_and_p999(folder: Path) -> None:
    done = cache_bench("report", folder)
    assert done.returncode == 0, done.stderr
    header, rows = latency_table((folder / "report.md").read_text())
    assert header == ["strategy", "read p50 ms", "read p99 ms", "read p99.9 ms", "read max ms",
                      "write p50 ms", "write p99 ms", "write p99.9 ms"]  # fmt: skip
    assert list(rows) == ORDER
    reads = stored_latencies(folder, "delete", "read")
    assert rows["delete"][1] == fmt_ms(np.quantile(reads, 0.99))
    assert rows["delete"][3] == fmt_ms(reads.max())


def test_percentiles_given_to_report_are_exact_and_kept_for_the_next_rebuild(
    folder: Path,
) -> None:
    # p99.95 is none of latency_cdf.csv's grid points: it cannot be read off it
    done = cache_bench("report", folder, "--percentiles", "95,50,99.95")
    assert done.returncode == 0, done.stderr
    recorded = json.loads((folder / "run.json").read_text())["config"]["percentiles"]
    assert recorded == [50, 95, 99.95]
    table = pd.read_csv(folder / "latency_percentiles.csv")
    for name in ORDER:
        for op in ("read", "write"):
            at = table[(table["strategy"] == name) & (table["op"] == op)]
            assert at["percentile"].tolist() == [50, 95, 99.95]
            exact = np.quantile(stored_latencies(folder, name, op), [0.5, 0.95, 0.9995])
            assert at["latency_ms"].to_numpy() == pytest.approx(exact, rel=1e-12)
    # and it is on the grid now, so the tail plot passes through the figure the table gives
    cdf = pd.read_csv(folder / "latency_cdf.csv")
    assert (cdf["quantile"] == 0.9995).any()
    done = cache_bench("report", folder)  # no flag: run.json's percentiles again
    assert done.returncode == 0, done.stderr
    header, rows = latency_table((folder / "report.md").read_text())
    assert header == ["strategy", "read p50 ms", "read p95 ms", "read p99.95 ms", "read max ms",
                      "write p50 ms", "write p95 ms", "write p99.95 ms"]  # fmt: skip
    for name in ORDER:
        reads, writes = (stored_latencies(folder, name, op) for op in ("read", "write"))
        assert rows[name][1:3] == [fmt_ms(np.quantile(reads, q)) for q in (0.95, 0.9995)]
        assert rows[name][5:7] == [fmt_ms(np.quantile(writes, q)) for q in (0.95, 0.9995)]
    html = (folder / "report.html").read_text()
    assert "<th>read p95 ms</th>" in html and "<th>read p99 ms</th>" not in html


@pytest.mark.parametrize(
    ("given", "says"),
    [("0", "got 0"), ("101", "got 101"), ("abc", "comma-separated numbers in (0, 100]"),
     ("50,nan", "got nan"), (",", "none given")],
)  # fmt: skip
def test_a_bad_percentile_is_exit_2_and_one_line(given: str, says: str, tmp_path: Path) -> None:
    folder = write_raw_run(tmp_path / "run", ORDER, seconds=1)
    before = (folder / "run.json").read_text()
    for command in (["report", folder], ["run", "--results", tmp_path / "new"]):
        done = cache_bench(*command, f"--percentiles={given}")
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
        assert done.stderr.startswith(f"cache-bench {command[0]}: error: argument --percentiles")
    assert (folder / "run.json").read_text() == before
    assert not (tmp_path / "new").exists() and not (folder / "report.md").exists()


def test_the_run_config_records_its_percentiles_sorted_once_each() -> None:
    config = RunConfig(percentiles=parse_percentiles("99.99, 95,95"))
    assert config.as_json()["percentiles"] == [95.0, 99.99]
    assert RunConfig().as_json()["percentiles"] == [50.0, 99.0, 99.9]
    with pytest.raises(ConfigError, match="in \\(0, 100\\]"):
        RunConfig(percentiles=(50.0, 100.5))


def test_labels_tail_marks_and_the_cdf_grid() -> None:
    assert [label(p) for p in (50.0, 95.0, 99.9, 99.99, 100.0)] == [
        "p50", "p95", "p99.9", "p99.99", "p100"]  # fmt: skip
    marks = tail_marks((50.0, 99.95, 100.0))  # the slowest has no share to mark on a log axis
    assert [name for _, name in marks] == ["p50", "p99.95"]
    assert [share for share, _ in marks] == pytest.approx([0.5, 0.0005])
    grid = with_quantiles(CDF_QUANTILES, (50.0, 99.0, 99.9, 99.95))
    assert len(grid) == len(CDF_QUANTILES) + 1 and 0.9995 in grid and grid == tuple(sorted(grid))


def test_percentiles_given_to_a_sweep_s_report_reach_every_cell(tmp_path: Path) -> None:
    cell = write_raw_run(tmp_path / "sweep" / "cells" / "delete-ttl5", ["delete"], seconds=1)
    sweep = {"schema_version": 1, "kind": "sweep", "config": {"strategies": ["delete"]},
             "cells": {"delete-ttl5": {"folder": "cells/delete-ttl5"},
                       "never-started": {"folder": "cells/never-started"}}}  # fmt: skip
    (tmp_path / "sweep" / "run.json").write_text(json.dumps(sweep))
    record(tmp_path / "sweep", sweep, (99.0, 90.0))
    assert sweep["config"]["percentiles"] == [90.0, 99.0]
    on_disk = json.loads((tmp_path / "sweep" / "run.json").read_text())
    assert on_disk["config"]["percentiles"] == [90.0, 99.0]
    assert json.loads((cell / "run.json").read_text())["config"]["percentiles"] == [90.0, 99.0]
