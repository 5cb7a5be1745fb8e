"""A small TCP proxy between replicas and Redis (or the origin): a partition is a real cut
link, and a link delay a real slow one.

`python -m bench.faults.proxy --listen PORT --upstream HOST:PORT --control PORT
[--delay-ms MS [--jitter-ms J]]` forwards every connection upstream. With a delay it
holds each chunk of the answers (upstream -> client) MS milliseconds plus a uniform draw
in [0, J] after it came, in order, from the first byte; requests go through unheld, so a
round trip gains MS. A held chunk does not hold up the next one's clock: the link adds
latency, not a bandwidth limit. On its control port it takes one line per command:
`cut` closes every forwarded connection and refuses new ones (the replica sees its
connections drop, as when a link goes down), `open` forwards again, and `delay MS [J]`
sets the hold (`delay 0`: none). It answers `ok` or `error: ...`. The local runtime
starts one per replica's link to Redis when a run delays that link (`--link-delay`) or a
scheduled partition cuts it, and one per origin server for a delayed origin link.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import struct
import sys
import time

from bench.faults.amount import amount

CHUNK = 64 * 1024
# Answers held at most this many chunks a connection (4 MiB): past it the proxy stops
# reading upstream and TCP slows the sender, as a slow link's bandwidth-delay product
# would, instead of the proxy's memory growing without end.
HELD_CHUNKS = 64


class Link:
    """The proxied link's state and its open connections."""

    def __init__(
        self, upstream: tuple[str, int], delay_ms: float = 0.0, jitter_ms: float = 0.0
    ) -> None:
        self.upstream = upstream
        self.cut = False
        self.delay_s, self.jitter_s = delay_ms / 1000, jitter_ms / 1000
        self.writers: set[asyncio.StreamWriter] = set()

    def hold_s(self) -> float:
        """How long the next answer chunk is held: the delay plus a uniform jitter."""
        if not self.delay_s:
            return 0.0
        return self.delay_s + (random.uniform(0.0, self.jitter_s) if self.jitter_s else 0.0)

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
            await asyncio.gather(self.pump(client_r, up_w), self.held(up_r, client_w))
        finally:
            self.writers -= pair
            for writer in pair:
                writer.close()

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def held(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """`pump` for the answers: each chunk leaves `hold_s` after it came, and never
        before the one ahead of it; straight through until a chunk is first held."""
        # (due, chunk); b"": EOF
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(HELD_CHUNKS)
        sender: asyncio.Task[None] | None = None
        last_due = 0.0
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            try:
                while data := await reader.read(CHUNK):
                    hold = self.hold_s()
                    if sender is None and not hold:
                        writer.write(data)
                        await writer.drain()
                        continue
                    if sender is None:
                        sender = asyncio.create_task(self._send(queue, writer))
                    last_due = max(time.monotonic() + hold, last_due)
                    if not await self._hold(queue, (last_due, data), sender):
                        break
                if sender is not None and await self._hold(queue, (0.0, b""), sender):
                    await sender  # what is held still arrives, then the close
            finally:
                if sender is not None:
                    sender.cancel()
        writer.close()

    @staticmethod
    async def _hold(queue: asyncio.Queue[tuple[float, bytes]], item: tuple[float, bytes],
                    sender: asyncio.Task[None]) -> bool:  # fmt: skip
        """Queue `item`, waiting while the queue is full; False when the sender ended
        first (its writer failed: the link is gone)."""
        if sender.done():
            return False
        if not queue.full():
            queue.put_nowait(item)
            return True
        put = asyncio.ensure_future(queue.put(item))
        await asyncio.wait({put, sender}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            return False
        return True

    @staticmethod
    async def _send(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
                    ) -> None:  # fmt: skip
        with contextlib.suppress(OSError):
            while (item := await queue.get())[1]:
                due, data = item
                # re-checked: a loop's timers may wake up to a millisecond early (uvloop
                # counts whole ms), and an answer must never arrive before its time
                while (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(max(wait, 0.001))
                writer.write(data)
                await writer.drain()

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
        if len(words) in (2, 3) and words[0] == "delay":
            try:
                delay_ms, jitter_ms = milliseconds(words[1]), milliseconds(([*words, "0"])[2])
            except ValueError as exc:
                return f"error: delay MS [JITTER]: {exc}"
            self.delay_s, self.jitter_s = delay_ms / 1000, jitter_ms / 1000
            return "ok"
        return f"error: unknown command {line.strip()!r} (cut, open, delay MS [JITTER])"

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while line := await reader.readline():
                writer.write((self.command(line.decode(errors="replace")) + "\n").encode())
                await writer.drain()
        writer.close()


def milliseconds(text: str) -> float:
    """A hold or a jitter: `amount` in milliseconds (also the argparse type)."""
    return amount(text, "milliseconds")


def send(control_port: int, command: str, timeout_s: float = 2.0) -> None:
    """Tell the proxy on `control_port` to `cut`, `open` or `delay MS [JITTER]`; raise if
    it refuses."""
    with socket.create_connection(("127.0.0.1", control_port), timeout=timeout_s) as sock:
        sock.sendall(f"{command}\n".encode())
        answer = sock.makefile().readline().strip()
    if answer != "ok":
        raise RuntimeError(f"proxy {control_port}: {command}: {answer or 'no answer'}")


async def run(link: Link, listen: int, control: int) -> None:
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
    parser.add_argument("--upstream", required=True, help="HOST:PORT of Redis or the origin")
    parser.add_argument("--control", type=int, required=True, help="control port")
    parser.add_argument("--delay-ms", type=milliseconds, default=0.0, metavar="MS",
                        help="hold each answer chunk MS, from the first byte")  # fmt: skip
    parser.add_argument("--jitter-ms", type=milliseconds, default=0.0, metavar="J",
                        help="plus a uniform draw in [0, J]")  # fmt: skip
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    link = Link((host, int(port)), args.delay_ms, args.jitter_ms)
    try:  # uvloop (uvicorn's, so present wherever the service runs) trims the hop
        import uvloop
    except ImportError:
        asyncio.run(run(link, args.listen, args.control))
    else:
        uvloop.run(run(link, args.listen, args.control))
    return 0


if __name__ == "__main__":
    sys.exit(main())
