"""The replicas' links to Redis and to the origin: straight, or through the suite's proxy.

A replica reaches Redis through a proxy of its own when the run delays that link
(`--link-delay redis=...`: every replica) or a scheduled partition cuts it (that replica
alone), so a partition still cuts one replica's link under a delay. A delayed origin link
puts one proxy before each origin server, the primary and the read replica when there is
one, shared by the replicas (the origin sees only their misses). The harness's own
connections (seeding, the lag meter, CLIENT KILL) stay direct: only the replicas' links
are delayed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.faults.link_delay import LinkDelay
from bench.run_config import RunConfig
from bench.runtime.local.faults import Proxy, start_proxy
from bench.runtime.ports import LOOPBACK
from bench.runtime.processes import Supervisor

POSTGRES_PORT = 5432  # a PostgreSQL URL's port when it names none


def redis_links(
    supervisor: Supervisor, config: RunConfig, redis_port: int, logs: Path
) -> dict[int, Proxy]:
    """Replica (1-based) -> the proxy it reaches Redis through; the others go straight."""
    delay = config.link("redis")
    cut = sorted({int(f.arg or 0) for f in config.faults if f.kind_of.proxied})
    through = range(1, config.replicas + 1) if delay is not None else cut
    return {r: start_proxy(supervisor, redis_port, logs / f"redis-proxy-{r}.log", delay)
            for r in through}  # fmt: skip


def upstream_of(url: str) -> tuple[str, int]:
    """The host and port a networked origin's URL connects to."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite") or not parts.hostname:
        raise ValueError(f"{parts.scheme or url}: the sqlite origin has no link to delay")
    return parts.hostname, parts.port or POSTGRES_PORT


def via(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's on loopback; the user, password,
    database and parameters kept."""
    parts = urlsplit(url)
    user, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}{at}{LOOPBACK}:{port}"))


def origin_link(
    supervisor: Supervisor, url: str, delay: LinkDelay, log_path: Path, name: str = "origin-proxy"
) -> str:
    """A proxy before the origin server `url` names, holding its answers as `delay` says;
    the URL the replicas then use."""
    host, port = upstream_of(url)
    proxy = start_proxy(supervisor, port, log_path, delay, upstream_host=host, name=name,
                        ping=False)  # fmt: skip
    return via(url, proxy.port)


def origin_links(
    supervisor: Supervisor, config: RunConfig, urls: tuple[str, str | None], logs: Path
) -> tuple[str, str | None]:
    """(DATABASE_URL, DATABASE_READ_URL) as the replicas reach them: through a delayed
    proxy each when the run delays the origin link, else as they are."""
    delay = config.link("origin")
    database_url, read_url = urls
    if delay is None:
        return database_url, read_url
    primary = origin_link(supervisor, database_url, delay, logs / "origin-proxy-primary.log")
    if read_url is None:
        return primary, None
    replica = origin_link(supervisor, read_url, delay, logs / "origin-proxy-replica.log")
    return primary, replica
