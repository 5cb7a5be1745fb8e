"""Free loopback ports for the local runtime.

Every child of a run (redis-server, replicas, Locust, probe) listens on 127.0.0.1 on a
port the OS hands out, so two runs, or a run next to the user's own services, never
collide on a fixed number.
"""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"

# Ports that a run must never take even if the OS offers them: a user's own Redis lives
# on 6379, and a benchmark that talks to it could flush or pollute real data.
RESERVED_PORTS = frozenset({6379})


def free_ports(count: int) -> list[int]:
    """Return `count` distinct TCP ports that were free on 127.0.0.1 a moment ago.

    All sockets are held open until every port is chosen, so the ports are distinct
    (binding one at a time could hand back the same port twice). The ports are released
    before returning: a child must bind them soon, and a caller that cannot tolerate the
    small race should retry on "address in use".
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    ports: list[int] = []
    with contextlib.ExitStack() as held:
        while len(ports) < count:
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
            if port not in RESERVED_PORTS:
                ports.append(port)
    return ports


def free_port() -> int:
    """Return one TCP port that was free on 127.0.0.1 a moment ago (see `free_ports`)."""
    return free_ports(1)[0]
