"""Client time beside server time: how much of a latency figure is the service's.

Locust's latency is what a caller on this machine saw: the replica's work plus the load
generator's own scheduling, the loopback and the CPUs both share. The replica's
`Server-Timing` header (`read_server_*` in summary.csv) is its work alone. Side by side
they tell a reviewer which figure to quote: the server's to compare what the strategies
themselves cost, the client's for what callers of this deployment wait.
"""

from typing import Any

from bench.analysis.numbers import fmt_ms, missing

Row = dict[str, Any]
PAIRS = (("read_p50_ms", "read_server_p50_ms"), ("read_p99_ms", "read_server_p99_ms"))
COLUMNS = ["strategy", "read p50 ms, client", "read p50 ms, server", "server share of p50",
           "read p99 ms, client", "read p99 ms, server"]  # fmt: skip


def timed(rows: list[Row]) -> list[Row]:
    """The rows whose replicas said how long they took (older runs did not)."""
    return [r for r in rows if not missing(r.get("read_server_p50_ms"))]


def share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole > 0 else "-"


def timing_table(rows: list[Row]) -> list[dict[str, Any]]:
    """Zero or one table: per strategy, read p50 and p99 as the client and the replica saw
    them, and the replica's share of the client's p50."""
    if not (rows := timed(rows)):
        return []
    (p50, server50), (p99, server99) = PAIRS
    return [{
        "title": "Client and server time",
        "columns": COLUMNS,
        "rows": [[r["strategy"], fmt_ms(r[p50]), fmt_ms(r[server50]),
                  share(r[server50], r[p50]), fmt_ms(r[p99]), fmt_ms(r[server99])]
                 for r in rows],
    }]  # fmt: skip


def timing_note(rows: list[Row]) -> list[str]:
    """Which figure to quote, with this run's numbers."""
    if not (rows := timed(rows)):
        return []
    spans = "; ".join(f"{r['strategy']} {fmt_ms(r['read_server_p50_ms'])} of"
                      f" {fmt_ms(r['read_p50_ms'])} ms" for r in rows)  # fmt: skip
    return [f"Client and server time: of the read p50 the client saw, the replica's own part"
            f" was {spans}; the rest is the load generator, the loopback and the CPUs they"
            f" share. To compare the strategies' own cost, quote the server figures; for what"
            f" callers of this deployment wait, the client's."]  # fmt: skip
