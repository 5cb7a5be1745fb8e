"""The request files' Parquet copies: written beside the CSV by the recorder's writer,
taken by analysis only when whole, and read to the same answers as the CSV they copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.analysis.summary import Analysis, analyse
from bench.analysis.tables import load_requests
from bench.perf.analysis import synthetic_run
from scenarios import parquet_copy
from scenarios.parquet_copy import ParquetCopy, whole_copy
from scenarios.request_rows import COLUMNS, DTYPES, RowWriter, format_row

HOSTILE_KEYS = ("7", "c3", "a,b", 'say "hi"', "two\nlines", "", "ünï")


def _line(i: int, key: str | None = None) -> str:
    return format_row("delete", "read" if i % 3 else "write", str(i % 17) if key is None else key,
                      1_700_000_000_000_000_000 + i * 1000, 1_700_000_000_000_500_000 + i * 1000,
                      0.5 + i / 1000, 200 if i % 11 else 0, str(i % 5 + 1) if i % 11 else "",
                      "", "redis" if i % 2 else "MISS", "r-1", "w-1", "0.25" if i % 4 else "",
                      str(i) if i % 6 else "", "" if i % 11 else "timeout")  # fmt: skip


def _write(path: Path, lines: list[str], seal: bool = True) -> RowWriter:
    writer = RowWriter(path, batch_rows=7, batch_seconds=3600, copy=ParquetCopy(path))
    for line in lines:
        writer.add(line)
    if seal:
        writer.close()
    else:
        writer.flush()
    return writer


def test_a_sealed_copy_holds_every_row_of_its_csv_as_analysis_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "requests" / "w-1.csv"
    keys = [HOSTILE_KEYS[i % len(HOSTILE_KEYS)] for i in range(100)]
    _write(path, [_line(i, key) for i, key in enumerate(keys)])
    assert whole_copy(path) == path.with_suffix(".parquet")
    copied = pq.read_table(path.with_suffix(".parquet")).to_pandas()
    from_csv, unreadable = load_requests(tmp_path)
    assert not unreadable and len(copied) == len(from_csv) == 100
    assert list(copied.columns) == list(COLUMNS)
    assert copied["key"].tolist() == keys
    for column in COLUMNS:
        expected = from_csv[column].astype(object).where(from_csv[column].notna(), None)
        if DTYPES[column] == "string":  # analysis reads an empty text as "" (rows._normal)
            expected = expected.fillna("")
        got = copied[column].astype(object).where(copied[column].notna(), None)
        if column == "cache":  # analysis lowers it, the copy keeps it as written
            got = got.str.lower()
        assert got.tolist() == expected.tolist(), column


def test_a_copy_never_sealed_is_not_taken(tmp_path: Path) -> None:
    path = tmp_path / "w-1.csv"
    _write(path, [_line(i) for i in range(20)], seal=False)
    assert whole_copy(path) is None


def test_a_csv_appended_to_after_the_seal_is_read_from_the_csv(tmp_path: Path) -> None:
    path = tmp_path / "w-1.csv"
    writer = _write(path, [_line(i) for i in range(20)])
    assert whole_copy(path) is not None
    writer.deliver([_line(20)])
    assert whole_copy(path) is None


def test_no_copy_of_a_file_another_writer_began(tmp_path: Path) -> None:
    path = tmp_path / "w-1.csv"
    RowWriter(path).deliver([_line(0)])
    _write(path, [_line(i) for i in range(1, 20)])
    assert whole_copy(path) is None and not path.with_suffix(".parquet").exists()


def test_a_batch_the_copy_cannot_read_ends_the_copy_and_no_row(tmp_path: Path) -> None:
    path = tmp_path / "w-1.csv"
    lines = [_line(i) for i in range(20)]
    lines[9] = lines[9].replace(",r-1,", ",r-1,extra,")  # a field too many
    _write(path, lines)
    assert whole_copy(path) is None and not path.with_suffix(".parquet").exists()
    assert len(path.read_text().splitlines()) == 21


def _same(a: Analysis, b: Analysis) -> None:
    for name in ("summary", "t_visibility", "latency_cdf", "latency_percentiles", "timeline"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    pd.testing.assert_frame_equal(a.read_rows(), b.read_rows())
    assert a.unreadable == b.unreadable


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    synthetic_run(folder, 30_000)
    return folder


def test_analysis_of_the_copies_is_the_analysis_of_the_csvs(synthetic: Path,
                                                            tmp_path: Path) -> None:  # fmt: skip
    copies = sorted((synthetic / "requests").glob("*.parquet"))
    assert copies and all(whole_copy(p.with_suffix(".csv")) for p in copies)
    csv_only, mixed = tmp_path / "csv", tmp_path / "mixed"
    shutil.copytree(synthetic, csv_only)
    shutil.copytree(synthetic, mixed)
    for path in (csv_only / "requests").glob("*.parquet"):
        path.unlink()
    (mixed / "requests" / copies[1].name).unlink()  # one file read from its CSV
    with (mixed / "requests" / copies[0].with_suffix(".csv").name).open("a") as file:
        file.write(_line(1)[:20])  # a cut last line: the CSV is read, the row counted
    from_copies, from_csvs = analyse(synthetic), analyse(csv_only)
    _same(from_copies, from_csvs)
    cut = analyse(mixed)
    assert cut.unreadable == {f"requests/{copies[0].stem}.csv": 1}
    pd.testing.assert_frame_equal(cut.read_rows(), from_csvs.read_rows())


def test_a_whole_copy_is_read_in_place_of_its_csv(synthetic: Path, tmp_path: Path) -> None:
    """Each CSV blanked to the size it had: only the copies can still give the answers."""
    blanked = tmp_path / "blanked"
    shutil.copytree(synthetic, blanked)
    for path in (blanked / "requests").glob("*.csv"):
        header, _, body = path.read_text().partition("\n")
        path.write_text(header + "\n" + " " * len(body.encode()))
    _same(analyse(blanked), analyse(synthetic))


def test_long_text_is_written_in_smaller_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy holds at most `ROW_GROUP_TEXT` of text before it writes a row group, so a
    Locust process with long list bodies does not hold 65,536 of them."""
    monkeypatch.setattr(parquet_copy, "ROW_GROUP_TEXT", 2000)
    path = tmp_path / "w-1.csv"
    _write(path, [_line(i) for i in range(100)])
    footer = pq.read_metadata(path.with_suffix(".parquet"))
    assert footer.num_row_groups > 3 and footer.num_rows == 100
    assert whole_copy(path) is not None
