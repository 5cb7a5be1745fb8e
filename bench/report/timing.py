"""Where a latency figure comes from: the schedule, the client, the server.

Locust's latency is what a caller on this machine saw: the replica's work plus the load
generator's own scheduling, the loopback and the CPUs both share. The replica's
`Server-Timing` header (`read_server_*` in summary.csv) is its work alone. An open-loop
run adds the latency from each request's intended start (`read_intended_*`), which
keeps what a stalled replica made callers wait even when the generator fell behind.
Side by side they tell a reviewer which figure to quote.
"""

from typing import Any

from bench.report.numbers import fmt_int, fmt_ms, missing

Row = dict[str, Any]
CLIENT_AND_SERVER = ["read p50 ms, client", "read p50 ms, server", "server share of p50",
                     "read p99 ms, client", "read p99 ms, server"]  # fmt: skip
INTENDED = ["read p50 ms from intended start", "read p99 ms from intended start",
            "late arrivals", "arrival lateness p99 ms"]  # fmt: skip


def has(rows: list[Row], column: str) -> list[Row]:
    """The rows with `column` measured (older runs lack some; closed loop has no schedule)."""
    return [r for r in rows if not missing(r.get(column))]


def share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole > 0 else "-"


def cells(row: Row, open_loop: bool) -> list[str]:
    """One strategy's row: client and server; then, in an open-loop run, the schedule's."""
    figures = [fmt_ms(row.get("read_p50_ms")), fmt_ms(row.get("read_server_p50_ms")),
               share(row.get("read_server_p50_ms", 0.0), row.get("read_p50_ms", 0.0)),
               fmt_ms(row.get("read_p99_ms")), fmt_ms(row.get("read_server_p99_ms"))]  # fmt: skip
    if open_loop:
        figures += [fmt_ms(row.get("read_intended_p50_ms")),
                    fmt_ms(row.get("read_intended_p99_ms")),
                    fmt_int(row.get("arrivals_late")),
                    fmt_ms(row.get("arrival_lateness_p99_ms"))]  # fmt: skip
    return figures


def timing_table(rows: list[Row]) -> list[dict[str, Any]]:
    """Zero or one table: per strategy, read p50 and p99 as the client and the replica saw
    them, the replica's share of the client's p50, and in an open-loop run the same from
    the intended start with the arrivals the schedule sent late."""
    if not (rows := has(rows, "read_server_p50_ms")):
        return []
    open_loop = bool(has(rows, "read_intended_p50_ms"))
    return [{
        "title": "Client, server and intended-start time",
        "columns": ["strategy", *CLIENT_AND_SERVER, *(INTENDED if open_loop else [])],
        "rows": [[r["strategy"], *cells(r, open_loop)] for r in rows],
    }]  # fmt: skip


def timing_note(rows: list[Row]) -> list[str]:
    """Which figure to quote, with this run's numbers."""
    if not (timed := has(rows, "read_server_p50_ms")):
        return []
    spans = "; ".join(f"{r['strategy']} {fmt_ms(r['read_server_p50_ms'])} of"
                      f" {fmt_ms(r['read_p50_ms'])} ms" for r in timed)  # fmt: skip
    said = (f"Client and server time: of the read p50 the client saw, the replica's own part"
            f" was {spans}; the rest is the load generator, the loopback and the CPUs they"
            f" share. To compare the strategies' own cost, quote the server figures.")  # fmt: skip
    if has(rows, "read_intended_p99_ms"):
        said += (
            " This run's arrivals were open-loop: for what callers wait, stalls"
            " included, quote the read p99 from the intended start."
        )
    else:
        said += (
            " For what callers wait, quote the client's, knowing that closed-loop load"
            " leaves out the requests a stall kept from being sent (--arrivals open)."
        )
    return [said]
