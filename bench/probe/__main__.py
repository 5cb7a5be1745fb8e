"""`python -m bench.probe`: the probe as a process of its own (see `bench.probe`)."""

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import bench.probe
from bench.probe.poller import probe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.probe", description=(bench.probe.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--targets", required=True, help="comma-separated replica base URLs")
    parser.add_argument("--names", default="", help="replica names, in --targets order")
    parser.add_argument("--keys", required=True, help="comma-separated probe-only product ids")
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--ttl", type=float, required=True, help="CACHE_TTL; cap = TTL + 2 s")
    parser.add_argument("--duration", type=float, required=True, help="seconds, at most")
    args = parser.parse_args(argv)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await probe(args, stop)

    cycles = asyncio.run(run())
    print(f"probe: {cycles} cycles written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
