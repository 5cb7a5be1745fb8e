"""A small TCP proxy between one replica and Redis, so a partition is a real cut link.

`python -m bench.faults.proxy --listen PORT --upstream HOST:PORT --control PORT`
forwards every connection to Redis. On its control port it takes one line per command:
`cut` closes every forwarded connection and refuses new ones (the replica sees its
connections drop, as when a link goes down), `open` forwards again, and `delay MS`
holds every chunk MS milliseconds in each direction (a slow link: a later fault kind is
one more command). It answers `ok` or `error: ...`. The local runtime starts one only
for a replica a scheduled partition targets, so runs without one have no extra hop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import struct
import sys

CHUNK = 64 * 1024


class Link:
    """The proxied link's state and its open connections."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.cut = False
        self.delay_s = 0.0
        self.writers: set[asyncio.StreamWriter] = set()

    async def serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.cut:
            client_w.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        pair = {client_w, up_w}
        self.writers |= pair
        try:
            await asyncio.gather(self.pump(client_r, up_w), self.pump(up_r, client_w))
        finally:
            self.writers -= pair
            for writer in pair:
                writer.close()

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        writer.close()

    def command(self, line: str) -> str:
        words = line.split()
        if words == ["cut"]:
            self.cut = True
            for writer in list(self.writers):  # RST, not FIN: a link that went down
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.close()
            return "ok"
        if words == ["open"]:
            self.cut = False
            return "ok"
        if len(words) == 2 and words[0] == "delay":
            try:
                self.delay_s = max(0.0, float(words[1])) / 1000
            except ValueError:
                return f"error: delay wants milliseconds, got {words[1]!r}"
            return "ok"
        return f"error: unknown command {line.strip()!r} (cut, open, delay MS)"

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while line := await reader.readline():
                writer.write((self.command(line.decode(errors="replace")) + "\n").encode())
                await writer.drain()
        writer.close()


def send(control_port: int, command: str, timeout_s: float = 2.0) -> None:
    """Tell the proxy on `control_port` to `cut`, `open` or `delay MS`; raise if it refuses."""
    with socket.create_connection(("127.0.0.1", control_port), timeout=timeout_s) as sock:
        sock.sendall(f"{command}\n".encode())
        answer = sock.makefile().readline().strip()
    if answer != "ok":
        raise RuntimeError(f"proxy {control_port}: {command}: {answer or 'no answer'}")


async def run(listen: int, upstream: tuple[str, int], control: int) -> None:
    link = Link(upstream)
    proxy = await asyncio.start_server(link.serve, "127.0.0.1", listen)
    controller = await asyncio.start_server(link.control, "127.0.0.1", control)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with proxy, controller:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults.proxy",
                                     description=(__doc__ or "").split("\n")[0])  # fmt: skip
    parser.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of Redis")
    parser.add_argument("--control", type=int, required=True, help="control port")
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    try:  # uvloop (uvicorn's, so present wherever the service runs) trims the hop
        import uvloop
    except ImportError:
        asyncio.run(run(args.listen, (host, int(port)), args.control))
    else:
        uvloop.run(run(args.listen, (host, int(port)), args.control))
    return 0


if __name__ == "__main__":
    sys.exit(main())
