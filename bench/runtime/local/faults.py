"""What a fault does to one strategy's local processes: the local runtime's `FaultTarget`.

Kills and pauses signal a child's whole process group through the supervisor, which
then expects that exit; restarts bring a process back where the others look for it
(the same port, the same settings). A partition is a real cut link: the targeted
replica reaches Redis through `bench.faults.proxy`, started for it (for every replica
when the run delays the link, bench.runtime.local.links). The origin is slowed through
the replicas' own control (FAULT_CONTROL=1, loopback only).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.faults import proxy
from bench.faults.link_delay import LinkDelay
from bench.runtime.local.redis_server import RedisServer, answers_ping, start_redis
from bench.runtime.local.replicas import StartedReplica
from bench.runtime.ports import LOOPBACK, free_port
from bench.runtime.processes import Child, Supervisor
from bench.runtime.waiting import wait_until

PROXY_START_TIMEOUT_S = 10.0
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Proxy:
    child: Child
    port: int  # where the replica connects instead of Redis (or the origin)
    control: int


def listening(port: int) -> bool:
    """Whether a TCP connection to `port` on loopback is accepted (raises OSError if not)."""
    with socket.create_connection((LOOPBACK, port), timeout=1):
        return True


def start_proxy(
    supervisor: Supervisor,
    upstream_port: int,
    log_path: Path,
    delay: LinkDelay | None = None,
    *,
    upstream_host: str = LOOPBACK,
    name: str = "redis-proxy",
    ping: bool = True,
) -> Proxy:
    """A proxy to the Redis on `upstream_port` (or, `ping` False, another server, on
    `upstream_host`), holding each answer as `delay` says from the first byte. Ready once
    this returns: an unheld PING answered through it, else its control port accepting
    (opened after its listening port; the replicas' own readiness checks the path)."""
    port, control = free_port(), free_port()
    held = [] if delay is None else ["--delay-ms", str(delay.ms), "--jitter-ms",
                                     str(delay.jitter_ms)]  # fmt: skip
    argv = [sys.executable, "-m", "bench.faults.proxy", "--listen", str(port),
            "--upstream", f"{upstream_host}:{upstream_port}", "--control", str(control),
            *held]  # fmt: skip
    child = supervisor.start(name, argv, log_path)
    ping = ping and (delay is None or not delay.ms)  # a held PING could outlast its timeout
    ready = (lambda: answers_ping(port)) if ping else (lambda: listening(control))
    wait_until(ready, PROXY_START_TIMEOUT_S,
               what=f"the {name} on port {port}", child=child,
               retry_on=(redis.RedisError, OSError))  # fmt: skip
    return Proxy(child, port, control)


@dataclass
class LocalFaults:
    """The `FaultTarget` of one strategy's processes on this machine."""

    supervisor: Supervisor
    redis: RedisServer
    replicas: list[StartedReplica]
    proxies: dict[int, Proxy] = field(default_factory=dict)  # replica (1-based) -> its proxy

    def kill_redis(self) -> None:
        self.supervisor.kill(self.redis.child)

    def restart_redis(self) -> None:
        """Empty, on the same port, as a restart without persistence comes back."""
        old = self.redis
        self.redis = start_redis(self.supervisor, old.work_dir, binary=old.binary,
                                 log_path=old.child.log_path, port=old.port)  # fmt: skip

    def pause_redis(self) -> None:
        self.supervisor.send(self.redis.child, signal.SIGSTOP)

    def resume_redis(self) -> None:
        self.supervisor.send(self.redis.child, signal.SIGCONT)

    def drop_subscribers(self) -> None:
        client = redis.Redis(port=self.redis.port, socket_timeout=2)
        try:
            client.client_kill_filter(_type="pubsub")
        finally:
            client.close()

    def cut_link(self, replica: int) -> None:
        proxy.send(self.proxy_of(replica).control, "cut")

    def restore_link(self, replica: int) -> None:
        proxy.send(self.proxy_of(replica).control, "open")

    def kill_replica(self, replica: int) -> None:
        self.supervisor.kill(self.child_of(replica))

    def restart_replica(self, replica: int) -> None:
        """The same command and settings, so the same port: it serves again once healthy."""
        old = self.replicas[replica - 1]
        assert old.child is not None
        child = self.supervisor.start(old.child.name, old.child.argv, old.child.log_path,
                                      extra_env=old.child.extra_env)  # fmt: skip
        self.replicas[replica - 1] = StartedReplica(old.name, old.url, child.pid, child)

    def pause_replica(self, replica: int) -> None:
        self.supervisor.send(self.child_of(replica), signal.SIGSTOP)

    def resume_replica(self, replica: int) -> None:
        self.supervisor.send(self.child_of(replica), signal.SIGCONT)

    def slow_origin(self, extra_ms: float) -> None:
        self._control("origin-delay", extra_ms)

    def delay_subscribers(self, ms: float) -> None:
        self._control("subscriber-delay", ms)

    def _control(self, fault: str, ms: float) -> None:
        """PUT /_faults/<fault> {"ms": ms} on every replica (FAULT_CONTROL=1)."""
        for replica in self.replicas:
            request = urllib.request.Request(
                f"{replica.url}/_faults/{fault}", method="PUT",
                data=json.dumps({"ms": ms}).encode(),
                headers={"content-type": "application/json"},
            )  # fmt: skip
            with _opener.open(request, timeout=2) as response:
                response.read()

    def child_of(self, replica: int) -> Child:
        child = self.replicas[replica - 1].child
        assert child is not None
        return child

    def proxy_of(self, replica: int) -> Proxy:
        if replica not in self.proxies:
            raise RuntimeError(f"replica {replica} has no proxy to cut")
        return self.proxies[replica]
