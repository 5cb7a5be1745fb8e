"""Hosts on one machine: network namespaces joined by veth pairs to a bridge, each link
delayed by `tc netem` where the kernel has it, for tests of load from several hosts
(tests/test_hosts.py).

Everything lives in namespaces the test creates: the bridge sits in a hub namespace of its
own, so the machine's own network is never touched, and nothing leaves the machine.
Deleting a namespace deletes its end of every veth, so teardown is one command per host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

SUBNET = "10.231.0"  # inside the test's namespaces only


class NoNamespaces(Exception):
    """`ip netns` is not permitted here (not root, or no iproute2): the test skips."""


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str
    delay_ms: float  # what tc netem adds to what it sends; 0 where the kernel has no netem

    def argv(self, command: Sequence[str]) -> list[str]:
        """`command` run inside this host's network namespace."""
        return ["ip", "netns", "exec", self.namespace, *command]

    def run(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(command), capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    def answers(self, url: str) -> bool:
        """Whether `url` answers 200 when fetched from this host."""
        probe = (f"import urllib.request,sys; sys.exit(urllib.request.urlopen({url!r},"
                 " timeout=2).status != 200)")  # fmt: skip
        return self.run(sys.executable, "-c", probe).returncode == 0


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NoNamespaces(f"ip {' '.join(args)}: {done.stderr.strip()}")


@contextmanager
def hosts(names: Sequence[str], delay_ms: float = 1.0) -> Iterator[dict[str, Host]]:
    """One namespace per name on a shared bridge, addresses SUBNET.1, .2, ...; every
    host's link delays what it sends by `delay_ms`, so a round trip between two hosts
    gains twice that."""
    prefix = f"cib{os.getpid() % 100000}"
    hub = f"{prefix}hub"
    made: list[str] = []
    try:
        ip("netns", "add", hub)
        made.append(hub)
        ip("-n", hub, "link", "set", "lo", "up")
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "link", "set", "br0", "up")
        found = {}
        for i, name in enumerate(names, 1):
            namespace = f"{prefix}{name}"
            ip("netns", "add", namespace)
            made.append(namespace)
            ip("-n", namespace, "link", "set", "lo", "up")
            ip("-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name",
               f"h{i}", "netns", hub)  # fmt: skip
            ip("-n", namespace, "addr", "add", f"{SUBNET}.{i}/24", "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
            ip("-n", hub, "link", "set", f"h{i}", "master", "br0")
            ip("-n", hub, "link", "set", f"h{i}", "up")
            delay = ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay",
                     f"{delay_ms:g}ms"]  # fmt: skip
            done = subprocess.run(["ip", "netns", "exec", namespace, *delay],
                                  capture_output=True, text=True, timeout=30)  # fmt: skip
            # a kernel built without sch_netem ("qdisc kind is unknown") keeps the links
            # undelayed; the hosts say so and the tests judge by what they got
            found[name] = Host(namespace, f"{SUBNET}.{i}", delay_ms if done.returncode == 0 else 0)
        yield found
    finally:
        for namespace in reversed(made):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


def wait_answers(host: Host, url: str, timeout_s: float = 30) -> None:
    """Until `url` answers from `host`, bounded."""
    deadline = time.monotonic() + timeout_s
    while not host.answers(url):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer from {host.namespace} in {timeout_s:g} s")
        time.sleep(0.2)
