"""What was run, in words: the manifest as the report's opening lines.

A run of the suite's own replicas says what it set (TTL, origin delay, seed); a run of
a service the suite did not start (`--runtime external`) says what it could not know,
and a service that failed the freshness check has that said first, in bold, as has a
probe that stopped before the load did.
"""

from pathlib import Path
from typing import Any

from bench.faults.link_delay import LinkDelaySpecError, parse_link_delay
from bench.probe.status import stop_sentence
from bench.report.numbers import fmt_int
from services.strategies import STRATEGIES


def channel_words(counts: dict[str, dict[str, Any]] | None) -> str:
    """What came over Locust's channel from each worker (`scenarios.row_channel`): all of
    it, or where rows were lost and whose final count never came."""
    if not counts:
        return ""
    said = []
    for worker, c in counts.items():
        if c["sent"] is None:
            said.append(f"{worker} sent no final count (it stopped before the end; its rows"
                        f" after the last batch received are lost), {fmt_int(c['received'])}"
                        " received")  # fmt: skip
        elif c["sent"] != c["received"]:
            lost = c["sent"] - c["received"]
            said.append(f"{worker} sent {fmt_int(c['sent'])}, {fmt_int(c['received'])} received"
                        f" ({fmt_int(lost)} lost)")  # fmt: skip
    if not said:
        total = sum(c["received"] for c in counts.values())
        return (f"; rows over Locust's channel: {fmt_int(total)} from {len(counts)} workers,"
                " each one's every row received")  # fmt: skip
    return "; rows over Locust's channel: " + "; ".join(said)


def describe_run(manifest: dict[str, Any]) -> list[str]:
    """The manifest in words: what ran, for how long, where, from which code."""
    c, host, git = manifest["config"], manifest["host"], manifest["git"]
    rate = "unpaced (as fast as they go)" if c["rate"] is None else f"paced at {c['rate']:g} req/s"
    commit = (git.get("commit") or "unknown")[:12] + (" (uncommitted changes)" * bool(git["dirty"]))
    workers = (
        f"{c['locust_workers']} Locust workers" if c["locust_workers"] else "one Locust process"
    )
    packages = ", ".join(f"{k} {v or 'absent'}" for k, v in manifest.get("packages", {}).items())
    strategies = [
        f"{name}: {rec.get('status', '?')}"
        + (f", {fmt_int(rec['rows_recorded'])} requests recorded" if "rows_recorded" in rec else "")
        + (f" ({rec['reason']})" if rec.get("reason") else "")
        + channel_words(rec.get("row_channel"))
        for name, rec in manifest.get("strategies", {}).items()
    ]
    external = c.get("runtime") == "external"
    shape = (
        f"service {c['strategies'][0]} on {c['replicas']} replicas"
        if external
        else f"strategies {', '.join(c['strategies'])}, one after another, each on"
        f" {c['replicas']} replicas"
    )
    return [
        f"Scenario {c['scenario']}, {shape}.",
        f"Each ran {c['duration_s']:g} s under {c['users']} Locust users, {rate},"
        f" {workers}, runtime {c['runtime']}.",
        service_line(c)
        if external
        else (
            f"Redis TTL {c['ttl_s']:g} s; origin delay {c['origin_delay_ms']:g} ms per query;"
            f" {c['products']:,} products in {c['categories']} categories; seed {c['seed']}."
        ),
        *([line] if (line := link_line(c)) else []),
        f"Host: {host['cpus']} CPUs, {host['memory_bytes'] / 2**30:.1f} GiB memory,"
        f" {host['platform']}, Python {host['python']}"
        + ("." if external else f"; {manifest.get('redis_server') or '?'}."),
        f"Commit {commit}; started {manifest['started_at']}, ended {manifest['ended_at'] or '?'}.",
        *([f"Packages: {packages}."] if packages else []),
        *([f"Strategies: {'; '.join(strategies)}."] if strategies else []),
        *([f"Strategy options: {options}."] if (options := options_line(c)) else []),
    ]


def link_line(c: dict[str, Any]) -> str:
    """run.json's `link_delay` in words: which links the proxy held, and by how much."""
    spec = c.get("link_delay")
    if not spec:
        return ""
    try:
        delays = ", ".join(delay.words for delay in parse_link_delay(spec))
    except LinkDelaySpecError:  # a hand-edited run.json: said as it is
        delays = f"as {spec} says"
    return (
        f"Links delayed (--link-delay {spec}): the suite's TCP proxy held each answer on every"
        f" replica's link {delays}, so a round trip gained about that much."
    )


def options_line(c: dict[str, Any]) -> str:
    """The strategies' own options as run, e.g. `xfetch beta=2, lock=false`; an unset one
    (None in run.json) is named by its declared default, e.g. `swr window=the TTL`."""
    return "; ".join(
        f"{strategy} "
        + ", ".join(f"{name}={_shown(strategy, name, value)}" for name, value in values.items())
        for strategy, values in c.get("options", {}).items()
    )


def _shown(strategy: str, name: str, value: Any) -> str:
    if value is None:
        spec = STRATEGIES.get(strategy)
        return spec.option(name).describe_default() if spec else "default"
    return str(value).lower() if isinstance(value, bool) else f"{value:g}"


def service_line(c: dict[str, Any]) -> str:
    """An external run: where the service was, and that its settings are its own."""
    probe = f"; probe-only ids {c['probe_ids']}" if c.get("probe_ids") else ""
    return (
        f"Measured as it runs at {', '.join(c.get('targets', []))}: the suite started, seeded"
        f" and configured none of it, so its TTL, origin and invalidation are its own (the"
        f" probe waited up to {c['ttl_s']:g} s + 2 s per write); {c['products']:,} products in"
        f" {c['categories']} categories{probe}; seed {c['seed']}."
    )


def unfresh_warnings(manifest: dict[str, Any], measured: set[str]) -> list[str]:
    """A strategy or service that failed verification, said before anything else."""
    return [
        f"{name} FAILED verification ({rec.get('reason', 'no reason recorded')})"
        + (
            "; it was measured anyway, and the figures below are its own."
            if name in measured
            else "; it was not measured."
        )
        for name, rec in manifest.get("strategies", {}).items()
        if rec.get("status") == "failed_verify"
    ]


def probe_warnings(manifest: dict[str, Any]) -> list[str]:
    """A probe that stopped before the load did (run.json's `probe_stopped`), said first:
    its figures end where it stopped."""
    return [
        f"{name}: {stop_sentence(rec['probe_stopped'])}; the probe's figures cover only"
        " what it recorded before."
        for name, rec in manifest.get("strategies", {}).items()
        if rec.get("probe_stopped")
    ]


def clock_lines(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Each Locust worker's clock against the master's, as clocks.csv measured it, and
    whether analysis corrected for it (`bench.analysis.clocks`)."""
    from bench.analysis.clocks import clock_summary, load_clocks

    table = clock_summary(load_clocks(folder))
    if table.empty:
        return []
    workers = "; ".join(
        f"{r.strategy}'s worker {r.worker}: master ahead by {r.offset_ms:+.2f} ms (median of"
        f" {r.estimates}, {r.offset_min_ms:+.2f} to {r.offset_max_ms:+.2f}), uncertainty at"
        f" most {r.uncertainty_max_ms:.2f} ms"
        for r in table.itertuples()
    )
    if manifest.get("clock_correction", True):
        how = (
            "rows mapped onto the master's clock; a read within the two rows' combined"
            " uncertainty of a write's acknowledgement counts as in flight, never stale"
        )
    else:
        how = (
            "NOT corrected (cache-bench report --clock-correction off): rows keep their"
            " hosts' clocks, so a skew can make fresh reads look stale"
        )
    return [f"Clocks (clocks.csv): {workers}; {how}."]
