"""Write visibility from literal probe rows: a write counts once its slowest replica
answered fresh; a censored one at no t."""

import math

import pandas as pd

from bench.analysis.write_visibility import write_visibility
from bench.report.write_visibility import cell


def probe(*rows: tuple[str, int, float | None]) -> pd.DataFrame:
    """(strategy, cycle, upper bound ms or None for censored) per replica row."""
    table = pd.DataFrame(list(rows), columns=["strategy", "cycle", "convergence_ms"])
    return table.assign(censored=table["convergence_ms"].isna())


def test_a_write_is_visible_when_its_slowest_replica_is() -> None:
    rows = probe(("pubsub", 0, -0.2), ("pubsub", 0, 0.6),   # everywhere by 0.6 ms
                 ("pubsub", 1, 0.4), ("pubsub", 1, 7.0),    # by 7 ms
                 ("pubsub", 2, 0.3), ("pubsub", 2, None),   # censored: never
                 ("pubsub", 3, 150.0), ("pubsub", 3, 2.0))  # by 150 ms  # fmt: skip
    table = write_visibility(rows, t_ms=(1.0, 10.0, 100.0, 1000.0)).set_index("t_ms")
    assert table["writes"].tolist() == [4, 4, 4, 4]
    assert table["visible_share"].tolist() == [0.25, 0.5, 0.5, 0.75]
    assert table.at[1000.0, "nines"] == math.log10(4)


def test_every_write_visible_is_unbounded_nines_and_says_how_many() -> None:
    table = write_visibility(probe(("delete", 0, 0.5), ("delete", 1, 0.7)), t_ms=(1.0,))
    [row] = table.itertuples()
    assert row.visible_share == 1.0 and math.isinf(row.nines)
    assert cell(row.visible_share, row.nines, row.writes) == "100% (of 2)"
    assert cell(0.5, math.log10(2), 4) == "50% (0.3)"


def test_no_probe_no_table() -> None:
    assert write_visibility(probe()).empty
