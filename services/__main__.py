"""Serve one replica: `python -m services --bind 127.0.0.1:8001`.

One replica is one gunicorn master with WORKERS uvicorn workers. Settings and
the origin are checked here first, so a wrong CACHE_STRATEGY or an unreachable
origin stops the replica with one clear line and exit code 2 instead of a
worker traceback and a boot loop.
"""

import argparse
import asyncio
import ctypes
import os
import signal
import sys

from gunicorn.app.base import BaseApplication

from services.config import SettingsError, load_settings
from services.origin import OriginUnavailable, open_origin

PR_SET_PDEATHSIG = 1  # prctl(2)


class Replica(BaseApplication):
    def __init__(self, app_uri: str, options: dict[str, object]) -> None:
        self.app_uri = app_uri
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> object:
        from gunicorn.util import import_app

        return import_app(self.app_uri)


def die_with_master(server: object, worker: object) -> None:
    """A worker outlives a killed master (uvicorn's worker never checks its parent), so
    on Linux ask the kernel to kill it with its master: a replica killed by SIGKILL,
    or whose harness was, leaves no worker serving under PID 1."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: nothing to ask
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != getattr(worker, "ppid", os.getppid()):  # the master died meanwhile
        os._exit(1)


async def _check_origin(database_url: str, read_url: str | None) -> None:
    origin = await open_origin(database_url, read_url=read_url)
    try:
        await origin.ping()
    except Exception as exc:
        named = f"DATABASE_URL={database_url}" + (
            f", DATABASE_READ_URL={read_url}" * bool(read_url)
        )
        raise OriginUnavailable(f"{named}: {exc} (seed it first)") from None
    finally:
        await origin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port to listen on")
    parser.add_argument("--app", default="services.app:app", help="ASGI app to serve")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        asyncio.run(_check_origin(settings.database_url, settings.database_read_url))
    except (SettingsError, OriginUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options: dict[str, object] = {
        "bind": args.bind,
        "workers": args.workers,
        "worker_class": "uvicorn_worker.UvicornWorker",
        "graceful_timeout": 5,
        "keepalive": 75,
        "backlog": 2048,
        "accesslog": "-" if args.access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": f"replica-{settings.replica_name}",
        # One shared control socket per user would make local replicas clash.
        "control_socket_disable": True,
        "post_fork": die_with_master,
    }
    Replica(args.app, options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
