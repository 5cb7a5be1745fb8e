"""A sweep's summary: the summaries of its complete cells, stacked in matrix order.

Each cell is an ordinary run folder with its own summary.csv; the sweep's table adds
what varies between cells (TTL, replicas, repeat) and which cell a row came from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.analysis.columns import SUMMARY_COLUMNS
from bench.analysis.tables import read_table
from bench.layout import RunFolder
from bench.manifest import read_manifest

# The run summary's columns, `repeat` after `ttl_s` (where analysis puts it), and the
# cell's folder name last, so every row leads back to its raw files.
SWEEP_COLUMNS: tuple[str, ...] = (
    *SUMMARY_COLUMNS[: SUMMARY_COLUMNS.index("ttl_s") + 1],
    "repeat",
    *SUMMARY_COLUMNS[SUMMARY_COLUMNS.index("ttl_s") + 1 :],
    "cell",
)


def sweep_summary(folder: Path) -> pd.DataFrame:
    """The complete cells' summary rows in matrix order, `repeat` and `cell` filled.

    Cells that did not complete (interrupted, failed, pending) are left out, so a partial
    cell never stands beside whole ones; their own folders keep what they measured.
    """
    manifest = read_manifest(folder)
    records, frames = manifest["cells"], []
    for cell in manifest["matrix"]:
        record = records[cell["id"]]
        table = read_table(RunFolder(folder / record["folder"]).summary)
        if record["status"] == "complete" and not table.empty:
            frames.append(
                table.assign(
                    strategy=cell.get("variant", cell["strategy"]),  # `xfetch beta=2`
                    ttl_s=cell["ttl_s"],
                    replicas=cell["replicas"],
                    repeat=cell["repeat"],
                    cell=cell["id"],
                )
            )
    if not frames:
        return pd.DataFrame(columns=list(SWEEP_COLUMNS))
    return pd.concat(frames, ignore_index=True).reindex(columns=list(SWEEP_COLUMNS))
