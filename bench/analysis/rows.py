"""A run's request rows in DuckDB, so that analysis never holds them all in memory.

An hour of distributed load is 50-100 million rows; pandas needs about 550 bytes a row
to hold and check them, more than the machine has. Here the rows live in a DuckDB
database in a scratch folder, compressed, which DuckDB reads, joins and sorts within a
memory limit (spilling to the scratch folder beyond it). Analysis asks it for the
checker's verdicts (`bench.analysis.staleness`), then for one strategy's rows at a time
as narrow pandas frames (times, latency, status, verdicts; never the list bodies), so
its memory is bounded by the largest strategy's narrow frames, not by the run.

A request file with a whole Parquet copy (`scenarios.parquet_copy`, written by the
recorder) is scanned where it lies, through the view `sealed`; DuckDB parses any other
request CSV straight into the table `stored`, in file order. Both add what every later
step needs: `answered` (`bench.analysis.staleness.answered`), `product` (the key as a
product id, NULL for a list's key) and `clock_uncertainty_ns`. The view `rows` adds:
- `rid`: the row's place in the record (files in name order, rows in file order), so
  the rows can be put back in the order they were recorded;
- `grp`: its group (strategy, and a sweep cell's columns), as a small int;
- each Locust worker's times on its master's clock (`bench.analysis.clocks`), when the
  run has clock estimates (then in a table of its own, `mapped`).
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bench.analysis.clocks import SHIFTED, UNCERTAINTY, nearest_estimate_sql
from bench.analysis.reference import Reference
from bench.analysis.tables import FEW_VALUES, SQL_TYPES, Unreadable, read_tolerantly
from bench.layout import RunFolder
from scenarios import request_rows
from scenarios.parquet_copy import whole_copy

# DuckDB's own while it loads and checks (beyond it, it spills to the scratch folder).
# 4 GB was 4 % faster at 100 million rows, but took 4 GiB at 10 million with clocks.
MEMORY_LIMIT = "2GB"
THREADS = 2


@dataclass
class RowStore:
    """A DuckDB connection holding the table `rows` (see the module's docstring)."""

    con: duckdb.DuckDBPyConnection
    group_columns: list[str]
    unreadable: Unreadable
    reference: Reference | None = None  # what reads are judged by, once checked

    def strategies(self) -> list[str]:
        """Strategies in the order their rows were first recorded."""
        query = "SELECT strategy FROM groups GROUP BY strategy ORDER BY min(first_rid)"
        return [strategy for (strategy,) in self.con.execute(query).fetchall()]

    def frame(self, query: str, parameters: Sequence[object] = (),
              categories: Sequence[str] = FEW_VALUES) -> pd.DataFrame:  # fmt: skip
        """The result of `query` as pandas, typed as `typed_frame` says."""
        return typed_frame(self.con.sql(query, params=list(parameters)).to_arrow_table(),
                           categories)  # fmt: skip


def typed_frame(table: pa.Table, categories: Sequence[str] = FEW_VALUES) -> pd.DataFrame:
    """Rows fetched from DuckDB with the dtypes `bench.analysis.tables.load_requests` gives
    the same columns, except that `categories` (text with few values; analysis adds the
    key) become categoricals, dictionary-encoded in Arrow, which is many times faster
    and smaller than Python strings. Nullable ints go straight to `Int64`: through a
    float, a nanosecond time would lose its last digits."""
    # The system allocator, not Arrow's pool: the pool keeps what it freed, and one
    # strategy's frames would stay resident while the next one's are fetched.
    pool, exact = pa.system_memory_pool(), {}
    for i, name in enumerate(table.column_names):
        if name in categories:
            encoded = pc.dictionary_encode(table.column(i), memory_pool=pool)
            table = table.set_column(i, name, encoded)
        elif request_rows.DTYPES.get(name) == "Int64":
            exact[name] = table.column(i).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get,
                                                    memory_pool=pool)  # fmt: skip
    order = table.column_names
    table = table.drop_columns(list(exact))
    # self_destruct frees each column once converted, so the rows are never held twice
    frame = table.to_pandas(self_destruct=True, split_blocks=True, memory_pool=pool)
    del table
    for name, values in exact.items():
        frame[name] = values.array
    for column in frame.columns:
        if request_rows.DTYPES.get(column) == "string" and column not in categories:
            frame[column] = frame[column].astype("string")
    return frame[order]


@contextmanager
def scratch_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB database in a fresh scratch folder, removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    con = duckdb.connect(str(scratch / "rows.duckdb"))
    try:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute(f"SET threads = {THREADS}")
        con.execute("SET enable_progress_bar = false")  # stdout is the caller's
        con.execute("SET preserve_insertion_order = false")  # rid keeps the order
        # a scratch database: nothing to keep, so no checkpoint when it closes
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
        con.execute(f"SET temp_directory = '{scratch / 'spill'}'")
        yield con
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)


# The sweep-cell columns rows may carry, and their types: `bench.analysis.summary`'s
# CONFIG_COLUMNS, in this order.
CELL_TYPES = {"scenario": "VARCHAR", "ttl_s": "DOUBLE", "replicas": "BIGINT", "repeat": "BIGINT"}
FILES_AT_ONCE = 2
FEW_GROUPS = 32  # up to this many, a row's group is found by a CASE, not a join
FILE_BITS = 40  # rid = file index << FILE_BITS | rowid (below 2**40)
# Numbers every row has: a row without one is unreadable (`tables.read_tolerantly`).
REQUIRED = tuple(c for c, t in request_rows.DTYPES.items() if t == "int64")
# What DuckDB raises for a CSV with a row off the schema: a field missing or extra (its
# reader), a number that is none (a cast), a required number empty (NOT NULL).
OFF_SCHEMA = (duckdb.InvalidInputException, duckdb.ConversionException,
              duckdb.ConstraintException)  # fmt: skip


def csv_header(path: Path) -> list[str]:
    """The column names of CSV `path`, as its first line states them."""
    with path.open(newline="") as file:
        return next(csv.reader(file), [])


def _normal(present: set[str], cells: Sequence[str], source: str,
            unread: Collection[str] = (), carried: Sequence[str] = ()) -> str:  # fmt: skip
    """`source`'s rows (its columns are `present`) in the `stored` table's columns: the
    schema's, typed, NULL for a column it lacks (recorded before the column existed);
    text as written (an empty field is "", never missing) and the cache tier in lower
    case (the contract lets a service say HIT); `answered` and `product` added; the
    columns `unread` left out, the columns `carried` kept first as they are."""
    wanted = {c: SQL_TYPES[t] for c, t in request_rows.DTYPES.items() if c not in unread}
    columns = [f'"{column}"' for column in carried]
    for column, sql_type in (wanted | {c: CELL_TYPES[c] for c in cells}).items():
        value = f'"{column}"' if column in present else "NULL"
        if sql_type == "VARCHAR" and column in request_rows.DTYPES:
            value = f"coalesce({value}, '')"
        if column == "cache":
            value = f"lower({value})"
        columns.append(f'CAST({value} AS {sql_type}) AS "{column}"')
    if UNCERTAINTY in present:
        columns.append(f"CAST({UNCERTAINTY} AS BIGINT) AS {UNCERTAINTY}")
    else:
        columns.append(f"0::BIGINT AS {UNCERTAINTY}")
    typed = ", ".join(columns)
    return f"""SELECT *, status BETWEEN 200 AND 299 AND error = '' AS answered,
                      CASE WHEN op IN ('read', 'write') THEN {PRODUCT_ID} END AS product
               FROM (SELECT {typed} FROM {source})"""


def _read_csv(path: Path, header: Sequence[str], parallel: bool = True) -> str:
    """DuckDB's reader of CSV `path` with the schema's types, strict: a row with a field
    missing or extra, or a number that is none, is an error. In parallel, or in one
    thread (`parallel` false), which keeps rows in order at no cost."""
    types = {c: SQL_TYPES[request_rows.DTYPES[c]] if c in request_rows.DTYPES else "VARCHAR"
             for c in header}  # fmt: skip
    spec = ", ".join(f"{_literal(c)}: '{t}'" for c, t in types.items())
    return (f"read_csv({_literal(str(path))}, header = true, delim = ',', quote = '\"',"
            f" escape = '\"', auto_detect = false, parallel = {str(parallel).lower()},"
            f" columns = {{{spec}}})")  # fmt: skip


def load(con: duckdb.DuckDBPyConnection, folder: Path, clocks: pd.DataFrame,
         unread: Collection[str] = ()) -> RowStore:  # fmt: skip
    """Load `folder`'s request files as `rows` (module docstring), but for the columns
    `unread` (text columns no step reads cost time to store: a tenth of it each).

    A CSV with a whole Parquet copy (`scenarios.parquet_copy`) is not loaded at all: the
    copies are scanned where they lie, through the view `sealed`, each row's place in
    its file given by the reader. The other CSVs are parsed by DuckDB straight into the
    table `stored`, each tagged with its index `f`, its rows in file order: ordered by
    (`f`, row number), the rows are in the order they were recorded (`rid`). Keeping the
    order makes one file's parallel insert half serial, so two files are loaded at a
    time, each in its own transaction, and each in one thread when there are files
    enough to share out. A file whose rows do not all fit the schema (a cut last line, a
    number that is none, a required number empty) is rolled back and read by
    `read_tolerantly` instead, whole, its bad rows counted: such files are a killed
    process's, small.

    One table, not one per file: DuckDB spills a join over a table, but ran out of
    memory joining 100 million rows spread over a union of 200 tables."""
    requests = RunFolder(folder).requests
    files = sorted(p for p in requests.glob("*.csv") if p.stat().st_size > 0)
    headers = [csv_header(path) for path in files]
    cells = [c for c in CELL_TYPES if any(c in header for header in headers)]
    copies = [whole_copy(path) if header == list(request_rows.COLUMNS) else None
              for path, header in zip(files, headers, strict=True)]  # fmt: skip
    parsed = [i for i, copy in enumerate(copies) if copy is None]
    skipped = _store_parsed(con, files, headers, parsed, cells, unread)
    unreadable = {f"{requests.name}/{files[i].name}": n for i, n in skipped.items() if n}
    source = f"SELECT (f::BIGINT << {FILE_BITS}) | rowid AS rid, * EXCLUDE (f) FROM stored"
    sealed = {i: copy for i, copy in enumerate(copies) if copy is not None}
    if sealed:
        _view_sealed(con, sealed, cells, unread)
        source += f""" UNION ALL
            SELECT (f::BIGINT << {FILE_BITS}) | n AS rid, * EXCLUDE (f, n) FROM sealed"""
    group_columns = ["strategy", *cells]
    build_rows(con, f"({source})", clocks, group_columns)
    return RowStore(con, group_columns, unreadable)


def _store_parsed(con: duckdb.DuckDBPyConnection, files: Sequence[Path],
                  headers: Sequence[list[str]], parsed: Sequence[int], cells: Sequence[str],
                  unread: Collection[str]) -> dict[int, int]:  # fmt: skip
    """The table `stored`: the CSVs `files[i]` for i in `parsed` (`load`); per file, the
    rows it could not read."""
    schema = con.execute(f"DESCRIBE {_normal(set(), cells, '(SELECT 1)', unread)}").fetchall()
    columns = ", ".join(f'"{name}" {sql_type}{" NOT NULL" if name in REQUIRED else ""}'
                        for name, sql_type, *_ in schema)  # fmt: skip
    con.execute(f"CREATE TABLE stored (f INTEGER NOT NULL, {columns})")
    con.execute("SET preserve_insertion_order = true")  # rows in file order: `rid`

    def load_file(index: int) -> int:
        cursor = con.cursor()
        try:
            reader = _read_csv(files[index], headers[index], parallel=not one_thread_each)
            normal = _normal(set(headers[index]), cells, reader, unread)
            cursor.execute(f"INSERT INTO stored SELECT {index}, * FROM ({normal})")
            return 0
        except OFF_SCHEMA:  # a row off the schema: the careful path
            frame, skipped = read_tolerantly(files[index], request_rows.DTYPES)
            cursor.register(f"tolerated_{index}", frame)
            tolerated = _normal(set(frame.columns), cells, f"tolerated_{index}", unread)
            cursor.execute(f"INSERT INTO stored SELECT {index}, * FROM ({tolerated})")
            return skipped
        finally:
            cursor.close()

    # with files enough to keep every thread busy, each is read in one thread: ordered
    # parallel reading cost a tenth more time; the largest first, so none is left last
    one_thread_each = len(parsed) >= 2 * FILES_AT_ONCE
    largest_first = sorted(parsed, key=lambda i: -files[i].stat().st_size)
    with ThreadPoolExecutor(FILES_AT_ONCE) as pool:
        skipped = dict(zip(largest_first, pool.map(load_file, largest_first), strict=True))
    con.execute("SET preserve_insertion_order = false")  # `rid` keeps the order now
    return skipped


def _view_sealed(con: duckdb.DuckDBPyConnection, copies: dict[int, Path], cells: Sequence[str],
                 unread: Collection[str]) -> None:  # fmt: skip
    """The view `sealed`: the Parquet `copies` (by their CSV's index), in `stored`'s
    columns, with their CSV's index `f` and each row's number in its file `n`."""
    listing = ", ".join(_literal(str(path)) for path in copies.values())
    indices = ", ".join(str(i) for i in copies)
    scan = f"""(SELECT [{indices}][file_index::BIGINT + 1] AS f, file_row_number AS n, *
                FROM read_parquet([{listing}], file_row_number = true))"""
    normal = _normal(set(request_rows.COLUMNS), cells, scan, unread, carried=("f", "n"))
    con.execute(f"CREATE VIEW sealed AS {normal}")


def load_frame(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame,
               group_columns: Sequence[str]) -> None:  # fmt: skip
    """`frame` (request columns, rows in recorded order; any it lacks are empty) as
    `rows`, as `load` loads a run's files, its times as they are: for a table at hand."""
    con.register("given", frame)
    cells = [c for c in CELL_TYPES if c in group_columns]
    con.execute(f"CREATE TABLE given_rows AS {_normal(set(frame.columns), cells, 'given')}")
    con.unregister("given")
    build_rows(con, "(SELECT rowid AS rid, * FROM given_rows)", pd.DataFrame(), group_columns)


def build_rows(con: duckdb.DuckDBPyConnection, source: str, clocks: pd.DataFrame,
               group_columns: Sequence[str]) -> None:  # fmt: skip
    """The view `rows`: `source` (a relation of `rid` and `stored`'s columns) on the
    master's clock, with `grp`, its group (`group_columns`) as a small int (the table
    `groups`, which also keeps each group's first `rid`). Without clock estimates a row
    keeps its times: `rows` reads `source` as it is."""
    if not clocks.empty:
        con.execute(f"CREATE TABLE mapped AS {_on_master_clock(con, source, clocks)}")
        source = "mapped"
    groups = ", ".join(f'"{c}"' for c in group_columns)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE groups AS
        SELECT {groups}, min(rid) AS first_rid, row_number() OVER () - 1 AS grp
        FROM {source} GROUP BY {groups}""")
    strategies = con.execute("SELECT strategy, grp FROM groups").fetchall()
    if group_columns == ["strategy"] and 0 < len(strategies) <= FEW_GROUPS:
        # a few strategies, never NULL: a CASE is cheaper than a join, on every scan
        cases = " ".join(f"WHEN {_literal(name)} THEN {grp}" for name, grp in strategies)
        con.execute(f"""CREATE OR REPLACE TEMP VIEW rows AS
            SELECT r.*, CASE r.strategy {cases} END AS grp FROM {source} AS r""")
        return
    same = " AND ".join(f'r."{c}" IS NOT DISTINCT FROM g."{c}"' for c in group_columns)
    con.execute(f"""CREATE OR REPLACE TEMP VIEW rows AS
        SELECT r.*, g.grp FROM {source} AS r JOIN groups AS g ON {same}""")


def _literal(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# The key as a product id, as pandas' to_numeric then astype(int64) read it: a number,
# truncated; NULL for anything else (a list's category key) and for a number no int64
# holds (such as 1e30), which names no product.
PRODUCT_ID = "TRY_CAST(trunc(TRY_CAST(key AS DOUBLE)) AS BIGINT)"


def _on_master_clock(con: duckdb.DuckDBPyConnection, source: str, clocks: pd.DataFrame) -> str:
    """`source` with each worker's times moved by its nearest clock estimate and its
    `clock_uncertainty_ns` (0 without one): `bench.analysis.clocks.on_master_clock`."""
    shifted = ", ".join(f"r.{c} + coalesce(pick.offset_ns, 0) AS {c}" for c in SHIFTED)
    return f"""
        WITH r AS (SELECT * FROM {source}), pick AS ({nearest_estimate_sql(con, "r", clocks)})
        SELECT r.* REPLACE ({shifted},
                            coalesce(pick.uncertainty_ns, 0)::BIGINT AS {UNCERTAINTY})
        FROM r LEFT JOIN pick USING (rid)
    """
