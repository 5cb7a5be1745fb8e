"""A request file's Parquet copy, written beside its CSV as the rows come.

Analysis of a CSV parses every row's text and then stores the typed columns again in
its own database: at 10 million rows that was half its time. A copy in typed, compressed
columns is scanned where it lies instead. Writing it costs the recorder under 2 us a row
(pyarrow parses each batch's lines, `ROW_GROUP_ROWS` at a time, or fewer of long list
bodies, are compressed), spread over the run.

The CSV stays the record. It survives a kill up to its last whole line; a Parquet file
is unreadable until its footer is written, at the end. So the footer also states the
size the CSV had when the copy was sealed (`CSV_BYTES`), and analysis takes a copy in
place of its CSV only when that is the CSV's size now (`whole_copy`): a copy left
unsealed by a killed process, or a CSV appended to after the seal, is read from the CSV.
A copy is begun only with a new CSV, so it holds every row the CSV holds. Anything that
goes wrong with a copy (a batch pyarrow cannot read, a full disk) ends the copy, never
the recording.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from scenarios.request_rows import COLUMNS, DTYPES

logger = logging.getLogger(__name__)

_ARROW = {"string": pa.string(), "int64": pa.int64(), "Int64": pa.int64(),
          "float64": pa.float64()}  # fmt: skip
SCHEMA = pa.schema([(column, _ARROW[dtype]) for column, dtype in DTYPES.items()])
# Read as analysis reads the CSV: an empty number is missing, an empty text is "".
_READ = pa_csv.ReadOptions(column_names=list(COLUMNS), use_threads=False)
_PARSE = pa_csv.ParseOptions(newlines_in_values=True)  # a quoted key may hold one
_CONVERT = pa_csv.ConvertOptions(column_types=SCHEMA, null_values=[""], strings_can_be_null=False,
                                 quoted_strings_can_be_null=False)  # fmt: skip
ROW_GROUP_ROWS = 1 << 16  # large enough to compress well, small enough to hold
ROW_GROUP_TEXT = 16 << 20  # or this much CSV text, whichever comes first: list bodies are long
COMPRESSION = "zstd"
CSV_BYTES = b"cache-bench.csv_bytes"


class ParquetCopy:
    """The Parquet copy of one CSV (`<stem>.parquet` beside it), fed the same text."""

    def __init__(self, csv_path: Path) -> None:
        self.path = csv_path.with_suffix(".parquet")
        self.writer: pq.ParquetWriter | None = None
        self.pending: list[pa.Table] = []
        self.pending_rows = self.pending_text = 0
        self.ended = False

    def add(self, text: str) -> None:
        """Copy `text`, whole CSV lines in `COLUMNS` order, without the header."""
        if self.ended or not text:
            return
        try:
            # an Arrow buffer, not a Python file: the reader never calls back into Python
            batch = pa_csv.read_csv(pa.BufferReader(text.encode()), read_options=_READ,
                                    parse_options=_PARSE, convert_options=_CONVERT)  # fmt: skip
            self.pending.append(batch)
            self.pending_rows += batch.num_rows
            self.pending_text += len(text)
            if self.pending_rows >= ROW_GROUP_ROWS or self.pending_text >= ROW_GROUP_TEXT:
                self._write_pending()
        except (pa.ArrowException, OSError) as error:
            self._end(error)

    def seal(self, csv_bytes: int) -> None:
        """Write the rest and the footer, stating that the CSV is `csv_bytes` long."""
        if self.ended:
            return
        try:
            self._write_pending()
            if self.writer is not None:
                self.writer.add_key_value_metadata({CSV_BYTES: str(csv_bytes).encode()})
                self.writer.close()
            self.ended = True
        except (pa.ArrowException, OSError) as error:
            self._end(error)

    def _write_pending(self) -> None:
        if not self.pending:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, SCHEMA, compression=COMPRESSION)
        table = pa.concat_tables(self.pending)
        self.pending, self.pending_rows, self.pending_text = [], 0, 0
        self.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

    def _end(self, error: Exception) -> None:
        """Give the copy up: the CSV alone holds the rows."""
        logger.warning("no Parquet copy of %s: %s", self.path.stem, error)
        self.ended, self.pending = True, []
        try:
            if self.writer is not None:
                self.writer.close()
        except (pa.ArrowException, OSError):
            pass
        self.path.unlink(missing_ok=True)


def whole_copy(csv_path: Path) -> Path | None:
    """`csv_path`'s Parquet copy if it was sealed and holds every row the CSV holds now,
    in today's `SCHEMA` (a copy from before a column was added is not taken)."""
    path = csv_path.with_suffix(".parquet")
    try:
        footer = pq.read_metadata(path)
        stated = (footer.metadata or {}).get(CSV_BYTES)
        if stated is None or int(stated) != csv_path.stat().st_size:
            return None
        return path if footer.schema.to_arrow_schema().remove_metadata() == SCHEMA else None
    except (pa.ArrowException, OSError, ValueError):
        return None
