"""What each figure after the checker reads, fetched from the checked rows one strategy at
a time as narrow pandas frames: the frames that bound analysis's memory.

`checked_store` loads a run folder into DuckDB (`bench.analysis.rows`) and checks it
(`bench.analysis.staleness.check_rows`); `strategy_frames` fetches one strategy's
requests, checked reads and hot keys' reads from it, each with only the columns its
figures read (at 30 million rows a strategy, a column is 240 MB); `checked_reads` is the
whole run's checked reads at once, for a run that fits in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from bench.analysis.clocks import UNCERTAINTY
from bench.analysis.herds import HOT_SHARE
from bench.analysis.rows import RowStore, load, scratch_connection
from bench.analysis.staleness import check_rows, checked
from bench.analysis.tables import FEW_VALUES

REQUEST_COLUMNS: tuple[str, ...] = ("op", "status", "error", "t_start_ns", "t_end_ns",
                                    "latency_ms", "server_ms", "t_intended_ns")  # fmt: skip
READ_COLUMNS: tuple[str, ...] = ("op", "key", "status", "cache", "t_start_ns", "t_end_ns",
                                 "latency_ms")  # fmt: skip
# once checked, the frames need the memory: DuckDB keeps less, and hands back what it frees
FETCH_SETTINGS: tuple[str, ...] = (
    "memory_limit = '512MB'",
    "allocator_flush_threshold = '32MB'",
    "allocator_bulk_deallocation_flush_threshold = '32MB'",
)
# Request columns no figure reads, left in the files when analysis loads them; the
# worker is read only to put its times on the master's clock.
UNREAD: tuple[str, ...] = ("replica",)
SMALL_STATUS = "CAST(status AS SMALLINT) AS status"  # 16 bits are enough


@contextmanager
def checked_store(folder: Path, clocks: pd.DataFrame, every_column: bool = False,
                  ) -> Iterator[RowStore]:  # fmt: skip
    """`folder`'s rows loaded (on the master's clock by `clocks`) with the checker's
    tables and reference (`RowStore.reference`), in a scratch database removed
    afterwards, DuckDB readied for the fetches. Only the columns the figures read are
    loaded (`UNREAD`), unless `every_column`."""
    unread = () if every_column else (*UNREAD, *(["worker"] if clocks.empty else []))
    with scratch_connection() as con:
        store = load(con, folder, clocks, unread)
        check_rows(store)
        for setting in FETCH_SETTINGS:
            con.execute(f"SET {setting}")
        yield store


def strategy_frames(
    store: RowStore, strategy: str | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One strategy's requests, its checked reads, and the reads of its hot keys with what
    the herds read besides (`hot_frame`); all empty for None. The reads come first: while
    they are judged, their lookup columns double them, and the requests are not held yet."""
    where, parameters = _strategy(strategy)
    group = list(store.group_columns)
    reads = checked(store, [*group, "op", "cache", "t_start_ns", "rid"],
                    where, parameters)  # fmt: skip
    narrow = [*group, *(SMALL_STATUS if c == "status" else c for c in REQUEST_COLUMNS)]
    requests = store.frame(f"SELECT {', '.join(narrow)} FROM rows WHERE {where}", parameters)
    return requests, reads, hot_frame(store, strategy)


def hot_frame(store: RowStore, strategy: str | None,
              left_out: pd.Series | None = None) -> pd.DataFrame:  # fmt: skip
    """The checked reads of `strategy`'s hot keys with what the herds read besides
    (`bench.analysis.herds`), the reads whose `rid` is in `left_out` left out before the
    keys are counted: a key's share of reads is of the reads that remain, as
    `herds.hot_reads` counts it, so the herds see the same reads."""
    where, parameters = _strategy(strategy)
    if left_out is not None:
        store.con.register("left_out", pd.DataFrame({"rid": left_out.to_numpy(dtype="int64")}))
        where += " AND rid NOT IN (SELECT rid FROM left_out)"
    store.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE hot_keys AS
        WITH ok AS (SELECT key FROM rows WHERE {where} AND answered AND op = 'read')
        SELECT key FROM ok GROUP BY key
        HAVING count(*) >= {HOT_SHARE} * (SELECT count(*) FROM ok)""", parameters,
    )  # fmt: skip
    # the key as a categorical: as Python strings, millions of them cost gigabytes
    hot = checked(store, [*store.group_columns, *READ_COLUMNS, "rid"],
                  f"{where} AND r.key IN (SELECT key FROM hot_keys)", parameters, lists=False,
                  categories=[*FEW_VALUES, "key"])  # fmt: skip
    if left_out is not None:
        store.con.unregister("left_out")
    hot["status"] = hot["status"].astype("int16")  # 16 bits are enough
    return hot


def _strategy(strategy: str | None) -> tuple[str, list[object]]:
    """The rows of `strategy` (none for None) as a condition and its parameters."""
    return ("strategy = ?", [strategy]) if strategy is not None else ("FALSE", [])


def checked_reads(folder: Path, clocks: pd.DataFrame) -> pd.DataFrame:
    """Every answered read of the run folder with its verdict, all its columns but the
    list bodies, in recorded order: `check_staleness` of the whole run, for a look at
    single reads. Held in memory whole: for runs that fit, unlike `analyse`. `clocks`
    as analysis used them (none when it did not correct for them)."""
    with checked_store(folder, clocks, every_column=True) as store:
        hidden = {"items", "grp", "answered", "product", *([UNCERTAINTY] if clocks.empty else [])}
        described = store.con.execute("DESCRIBE rows").fetchall()
        columns = [name for name, *_ in described if name not in hidden]
        reads = checked(store, columns, in_order=True)
    return reads.drop(columns="rid")
