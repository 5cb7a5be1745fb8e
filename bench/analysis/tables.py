"""Reading the run folder's tables: the raw rows, with their one schema, and analysis output.

The raw rows' columns and dtypes are stated once, where they are written:
`scenarios.request_rows.DTYPES` (the Locust recorder) and `bench.probe.cycle.DTYPES`
(the probe). The CSV files are the crash-safe record, and analysis reads them as they
are: a run's request rows through DuckDB (`bench.analysis.rows`), everything else here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from bench.layout import RunFolder
from bench.probe import cycle
from scenarios import request_rows

Unreadable = dict[str, int]  # file (relative to the run folder) -> rows skipped
# The `cache` column, a read's X-Cache: where its answer came from. `stale` is Redis's
# old value served on purpose past a soft TTL (stale-while-revalidate) while one reader
# refreshes it: the cache answered, so it is a hit, and no origin read was made.
# `hit` is a service's own cache that does not name its tier (docs/contract.md); a read
# without X-Cache is neither hit nor miss, and with none at all the hit ratio is unknown.
MISS = "miss"
STALE = "stale"
HIT_CACHE_VALUES: tuple[str, ...] = ("local", "redis", STALE, "hit")


# Request columns with a handful of distinct values, held as categoricals once loaded.
FEW_VALUES: tuple[str, ...] = ("strategy", "op", "cache", "replica", "worker", "error")


def hits(cache: pd.Series) -> pd.Series:
    """Per read 1.0 for a hit, 0.0 for a miss, NaN without X-Cache: its mean is the hit
    ratio over the reads that said, NaN when none did."""
    return cache.isin(HIT_CACHE_VALUES).astype("float64").where(cache != "")


def read_csvs(folder: Path, dtypes: dict[str, str]) -> tuple[pd.DataFrame, Unreadable]:
    """All non-empty CSVs of `folder` concatenated (an empty frame with `dtypes` if none),
    and how many unreadable rows each file had.

    A Locust or probe killed mid-write leaves a half-written last line: such a row, or
    any other that does not parse into the schema, is skipped and counted, never guessed.
    """
    frames, unreadable = [], {}
    for path in sorted(p for p in folder.glob("*.csv") if p.stat().st_size > 0):
        skipped = 0
        try:  # the fast path, for every file written whole
            frame = pd.read_csv(path, engine="pyarrow", dtype=dtypes)
        except ValueError:  # pyarrow's parse and conversion errors are ValueErrors
            frame, skipped = read_tolerantly(path, dtypes)
        if skipped:
            unreadable[f"{folder.name}/{path.name}"] = skipped
        if len(frame):
            frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()}), unreadable
    return pd.concat(frames, ignore_index=True), unreadable


# The SQL type DuckDB reads each of the schemas' pandas dtypes as.
SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "Int64": "BIGINT", "float64": "DOUBLE"}


def read_tolerantly(path: Path, dtypes: dict[str, str]) -> tuple[pd.DataFrame, int]:
    """The rows of `path` that fit `dtypes`, and how many did not (wrong field count, a
    number that is not one, an empty required number)."""
    skipped = 0

    def skip(_row: pv.InvalidRow) -> str:
        nonlocal skipped
        skipped += 1
        return "skip"

    table = pv.read_csv(
        path,
        parse_options=pv.ParseOptions(invalid_row_handler=skip),
        convert_options=pv.ConvertOptions(
            column_types={c: pa.string() for c in dtypes}, strings_can_be_null=False
        ),
    )
    text = table.to_pandas().reindex(columns=list(dtypes), fill_value="").fillna("")
    good = pd.Series(True, index=text.index)
    for column, dtype in dtypes.items():
        values = text[column]
        if dtype in ("int64", "Int64"):  # digits only: a float parse would lose ns
            good &= values.str.fullmatch(r"-?\d+") | ((values == "") & (dtype == "Int64"))
        elif dtype == "float64":
            good &= (values == "") | pd.to_numeric(values, errors="coerce").notna()
    rows = text[good]
    frame = pd.DataFrame({c: typed(rows[c], t) for c, t in dtypes.items()})
    return frame.reset_index(drop=True), skipped + int((~good).sum())


def typed(text: pd.Series, dtype: str) -> pd.Series:
    """Checked text as `dtype`: "" is missing; int64 parsed exactly, never via a float."""
    if dtype == "string":
        return text.astype("string")
    if dtype == "int64":
        return text.astype("int64")
    return pd.to_numeric(text.where(text != "")).astype(dtype)


def load_requests(folder: Path) -> tuple[pd.DataFrame, Unreadable]:
    """The request rows of every Locust process (`folder/requests/*.csv`), in file order,
    and the unreadable rows skipped per file: the whole run in pandas, for a look at a
    run that fits in memory (analysis itself reads through `bench.analysis.rows`).

    Times are int64 ns, `latency_ms` float ms, `version` nullable int, `items` and
    `error` "" when absent (a run recorded before `error` existed has it all "").
    """
    requests, unreadable = read_csvs(RunFolder(folder).requests, request_rows.DTYPES)
    if "error" not in requests:  # recorded before it existed
        requests["error"] = pd.Series("", index=requests.index, dtype="string")
    for column in ("items", "cache", "error"):
        requests[column] = requests[column].fillna("")
    requests["cache"] = requests["cache"].str.lower()  # the contract lets a service say HIT
    for column in FEW_VALUES:  # ten million rows, a dozen values: codes, not strings
        requests[column] = requests[column].astype("category")
    for column in ("server_ms", "t_intended_ns"):  # recorded before these existed
        if column not in requests:
            requests[column] = pd.Series(index=requests.index, dtype=request_rows.DTYPES[column])
    return requests, unreadable


def load_probe(folder: Path) -> tuple[pd.DataFrame, Unreadable]:
    """The probe rows (`folder/probe/*.csv`), `censored` as bool (empty when absent), and
    the unreadable rows skipped per file."""
    probe, unreadable = read_csvs(RunFolder(folder).probe, cycle.DTYPES)
    probe["censored"] = probe["censored"].fillna("").str.lower().isin(["true", "1"])
    for column in ("sent_ms", "errors"):  # written before the probe polled through the
        if column not in probe:  # write, or counted its failed requests: unknown
            probe[column] = pd.Series(index=probe.index, dtype=cycle.DTYPES[column])
    return probe, unreadable


def read_table(path: Path) -> pd.DataFrame:
    """A CSV of analysis output, or an empty frame when analysis did not write it.

    `strategy` is read as text even when a name looks like a number.
    """
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, dtype={"strategy": str})
