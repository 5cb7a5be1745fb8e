"""The staleness checker: a pure function from recorded requests to a verdict per read.

Like a Jepsen checker it sees only the history (the request rows of a run folder), never
a live system, so a stored run can be re-checked and the checker is tested on small
literal tables.

Definitions (docs/design.md, "What a stale read is"):
- A read (op `read` or `list`) is **stale** when some write to the same product with a
  higher version than the read returned had been acknowledged (the write's `t_end_ns`)
  strictly before the read was sent (its `t_start_ns`). Its **stale age** is the read's
  start minus the earliest acknowledgement among those writes, in milliseconds.
  A read sent before a write's ack is concurrent with it and never counted stale, so
  the checker gives no false positives.
- Only answered requests count (`answered`: 2xx, with a body that read): a failed
  write's outcome is unknown, and a read whose body had no version (`error`
  unparseable) is neither fresh nor stale.
- Writes are compared only within their group (a strategy, or a sweep cell): every group
  runs on a freshly seeded origin, so versions of different groups are unrelated.
- A list read is checked item by item: stale when any embedded product is stale; its
  stale age is the largest item age.

Times are wall-clock nanoseconds (int64) in the input, milliseconds (float) in the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from bench.analysis.reference import Reference
from bench.analysis.rows import RowStore, load_frame
from bench.analysis.tables import FEW_VALUES

T_VISIBILITY_MS: tuple[float, ...] = (0.0, 10.0, 100.0, 1000.0, 10000.0)


def successful(status: pd.Series) -> pd.Series:
    """True for HTTP 2xx; status 0 (connection error) and >= 300 are failures."""
    return (status >= 200) & (status < 300)


def answered(rows: pd.DataFrame) -> pd.Series:
    """True for a request answered 2xx whose body read (its `error` is ""): the requests
    that count as answers; every other row is an error (`scenarios.request_rows.ERRORS`:
    a 2xx with an unparseable body, a timeout, a request unanswered at the load's end).
    Rows without an `error` column (recorded before it existed) go by status alone."""
    ok = successful(rows["status"])
    if "error" in rows:
        error = rows["error"]
        ok &= (error.isna() | (error == "")).to_numpy(dtype=bool)
    return ok


# The checker's tables of the writes and list bodies, in SQL over the view `rows`
# (`bench.analysis.rows`), which DuckDB builds within its memory limit however many rows
# there are; the reads are judged against them as they are fetched (`checked`). A write
# counts as acknowledged its clock's uncertainty later, a read as sent that much earlier
# (`t_to`, `t_from`).
CHECK_SQL: tuple[str, ...] = (
    """CREATE OR REPLACE TEMP TABLE writes AS
    SELECT grp, product, version, t_start_ns - clock_uncertainty_ns AS t_from,
           t_end_ns + clock_uncertainty_ns AS t_to
    FROM rows
    WHERE answered AND op = 'write' AND product IS NOT NULL AND version IS NOT NULL""",
    # per written (group, product, version): the earliest ack of that version or a higher
    # one; a read of any version finds its stale age at the first written version above
    """CREATE OR REPLACE TEMP TABLE newer AS
    SELECT grp, product, version, min(ack) OVER (PARTITION BY grp, product
           ORDER BY version DESC ROWS UNBOUNDED PRECEDING) AS newer_ack
    FROM (SELECT grp, product, version, min(t_to) AS ack FROM writes GROUP BY ALL)""",
    # per written product: `k`, one small int for its (group, product), so that the
    # lookups compare one key, not two
    """CREATE OR REPLACE TEMP TABLE spans AS
    SELECT grp, product, row_number() OVER () AS k FROM newer GROUP BY grp, product""",
    # what a read's send time finds of the writes to its product: their starts and acks
    # as events in time, whose running maxima (`Reference.fetch`) one lookup reads: the
    # newest ack strictly before the send (an ack is placed 1 ns after it), and whether
    # one started at or before it was acked at or after it (a write in flight)
    """CREATE OR REPLACE TEMP TABLE timeline AS
    WITH w AS (SELECT s.k, w.t_from, w.t_to FROM writes w JOIN spans s USING (grp, product))
    SELECT k, t_from AS t, t_to AS started_ack, NULL::BIGINT AS ack FROM w
    UNION ALL
    SELECT k, t_to + 1, NULL, t_to FROM w""",
    # list bodies repeat (a cached list is served byte for byte until a write retires
    # it): each distinct body of a group is split and looked up once
    """CREATE OR REPLACE TEMP TABLE bodies AS
    SELECT grp, items, row_number() OVER () AS body FROM rows
    WHERE answered AND op = 'list' GROUP BY grp, items""",
    """CREATE OR REPLACE TEMP TABLE body_ack AS
    WITH item AS (
        SELECT body, grp, regexp_extract(token, '^(\\d+):(\\d+)$', ['id', 'version']) AS m
        FROM (SELECT body, grp, unnest(string_split(items, ' ')) AS token FROM bodies)
    ), valid AS (
        SELECT body, grp, TRY_CAST(m.id AS BIGINT) AS product,
               TRY_CAST(m.version AS BIGINT) AS version
        FROM item WHERE m.id <> ''
    )
    SELECT b.grp, b.items, min(n.newer_ack) AS newer_ack
    FROM bodies b LEFT JOIN (valid v ASOF LEFT JOIN newer n
      ON v.grp = n.grp AND v.product = n.product AND v.version < n.version) USING (body)
    GROUP BY b.grp, b.items""",
)
# Product reads are judged by `store.reference`, list reads by `body_ack`, which stays.
SCRATCH_TABLES = ("writes", "newer", "spans", "timeline", "bodies")
# The columns a checked fetch adds for `Reference.judge`, dropped once it has judged.
JUDGED_BY = ("_grp", "_product", "_version", "_known", "_uncertainty", "_list_age")
# What `checked` adds to each read (`check_staleness` says what they mean).
VERDICT_COLUMNS = ("stale_age_ms", "stale", "since_write_ms", "write_in_flight")
JUDGED_AT_ONCE = 1 << 20  # reads per `Reference.judge`: its temporaries stay small


def check_rows(store: RowStore) -> None:
    """The checker's tables of the writes and list bodies of the view `rows`, and the
    reference its product reads are judged by (`store.reference`), so that `checked`
    fetches reads judged."""
    for statement in CHECK_SQL:
        store.con.execute(statement)
    store.reference = Reference.fetch(store.con)
    for table in SCRATCH_TABLES:
        store.con.execute(f"DROP TABLE {table}")


def checked(store: RowStore, columns: Sequence[str],
            where: str = "TRUE", parameters: Sequence[object] = (), lists: bool = True,
            categories: Sequence[str] = FEW_VALUES, in_order: bool = False,
            ) -> pd.DataFrame:  # fmt: skip
    """The answered reads of `rows` (as `r`) that `where` selects, product reads and (with
    `lists`) list reads, with `columns` (which hold `t_start_ns`) and `VERDICT_COLUMNS`,
    in recorded order (`rid`, which `columns` then hold) when
    `in_order`, else in no particular order. A product read is judged here by its
    product's `k` and `Reference.judge`; a list read by its body's earliest newer ack
    (`body_ack`), in SQL, where the bodies are."""
    if store.reference is None:
        raise ValueError("checked reads need check_rows first")
    picked = ", ".join(f'r."{c}"' for c in columns)
    query = f"""
        SELECT {picked}, r.grp::INTEGER AS _grp, coalesce(r.product, 0) AS _product,
               coalesce(r.version, 0) AS _version,
               r.version IS NOT NULL AND r.product IS NOT NULL AS _known,
               r.clock_uncertainty_ns AS _uncertainty, NULL::DOUBLE AS _list_age
        FROM rows r WHERE r.answered AND r.op = 'read' AND ({where})"""
    if lists:
        query += f"""
        UNION ALL
        SELECT {picked}, 0, 0, 0, false, 0,
               CASE WHEN a.newer_ack < r.t_start_ns - r.clock_uncertainty_ns
                    THEN (r.t_start_ns - r.clock_uncertainty_ns - a.newer_ack) / 1e6 END
        FROM rows r JOIN body_ack a ON r.grp = a.grp AND r.items = a.items
        WHERE r.answered AND r.op = 'list' AND ({where})"""
    if in_order:
        query += " ORDER BY rid"
    frame = store.frame(query, [*parameters, *parameters] if lists else parameters, categories)
    stale_age = frame["_list_age"].to_numpy(dtype=float, na_value=np.nan, copy=True)
    since = np.full(len(frame), np.nan)
    in_flight = np.zeros(len(frame), dtype=bool)
    reference = store.reference
    grp, product, version, known, t_start, uncertainty = (
        frame[c].to_numpy(t) for c, t in (("_grp", np.int32), ("_product", np.int64),
        ("_version", np.int64), ("_known", bool), ("t_start_ns", np.int64),
        ("_uncertainty", np.int64)))  # fmt: skip
    for c in JUDGED_BY:  # in place: a copy of a hundred million rows' frame is gigabytes
        del frame[c]
    for start in range(0, len(frame), JUDGED_AT_ONCE):  # bounded temporaries
        part = slice(start, start + JUDGED_AT_ONCE)
        k = reference.k(grp[part].astype(np.int64), product[part], known[part])
        age, since[part], in_flight[part] = reference.judge(
            k, version[part], known[part], t_start[part], uncertainty[part]
        )
        stale_age[part] = np.where(np.isnan(stale_age[part]), age, stale_age[part])
    frame["stale_age_ms"] = stale_age
    frame["stale"] = ~np.isnan(stale_age)
    frame["since_write_ms"] = since
    frame["write_in_flight"] = in_flight
    return frame


def check_staleness(requests: pd.DataFrame, group_columns: Sequence[str]) -> pd.DataFrame:
    """Every answered read (op read and list; see `answered`), with the checker's verdict.

    `requests` has the request-file columns (`scenarios.request_rows.COLUMNS`). Returns
    its read rows, every column but the list bodies (`items`, read only here), plus:
    - `stale` (bool) and `stale_age_ms` (float ms, NaN when fresh), lists item by item;
    - for product reads only: `since_write_ms`, the read's start minus the newest ack of
      a write to its product before it (float ms, NaN when none), and `write_in_flight`
      (bool), whether a write to its product was started but not acked when it was sent.

    The rows go through the same checker as a run folder's (`check_rows`, `checked`), in
    a DuckDB held in memory: this is the checker for a table at hand, such as a test's
    literal one.
    """
    requests = requests.reset_index(drop=True)
    frame = requests.copy(deep=False)
    for column in frame.columns:  # DuckDB takes text, not pandas categoricals
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("string")
    with duckdb.connect() as con:
        load_frame(con, frame, group_columns)
        store = RowStore(con, list(group_columns), {})
        check_rows(store)
        verdicts = checked(store, ["rid", "t_start_ns"], in_order=True)
    reads = requests.loc[verdicts["rid"].to_numpy(), [c for c in requests.columns if c != "items"]]
    for column in VERDICT_COLUMNS:
        reads[column] = verdicts[column].to_numpy()
    return reads


def t_visibility(
    reads: pd.DataFrame,
    group_columns: Sequence[str],
    t_ms: Sequence[float] = T_VISIBILITY_MS,
) -> pd.DataFrame:
    """The share of product reads that are fresh t ms after a write (PBS t-visibility).

    Counts product reads only (op `read`; list reads are left out because one list has
    many "last writes") of a product written and acked before the read was sent, and
    not sent while a write to it was in flight. For each t (ms): `reads` = how many such
    reads were sent at least t ms after the newest ack; `fresh_share` (0..1) = the share
    of them that were fresh; `nines` = -log10(1 - fresh_share), inf when all were fresh,
    NaN when there were none. Input: the frame `check_staleness` returns.
    """
    rows = []
    for key, group in reads.groupby(list(group_columns), sort=False, observed=True, dropna=False):
        eligible = (
            (group["op"] == "read")
            & group["since_write_ms"].notna()
            & ~group["write_in_flight"].astype(bool)
        )
        since = group.loc[eligible, "since_write_ms"].to_numpy(dtype=float)
        fresh = ~group.loc[eligible, "stale"].to_numpy(dtype=bool)
        for t in t_ms:
            selected = since >= t
            count = int(selected.sum())
            share = float(fresh[selected].mean()) if count else math.nan
            rows.append((*key, float(t), count, share, nines(share)))
    return pd.DataFrame(rows, columns=[*group_columns, "t_ms", "reads", "fresh_share", "nines"])


def nines(share: float) -> float:
    """Nines of consistency: -log10(1 - share); inf when share is 1, NaN when unknown."""
    if math.isnan(share):
        return math.nan
    if share >= 1.0:
        return math.inf
    return -math.log10(1.0 - share) + 0.0  # + 0.0: a share of 0 is 0 nines, not -0
