"""`python -m bench.probe`: the probe as a process of its own (see `bench.probe`).

Exit 0 when its duration ran out or it was asked to stop (SIGTERM, SIGINT); 1 when it
stopped early, with "probe stopped at T s: reason" as its last line and in its status
file beside the CSV (`bench.probe.status`), which the harness reads.
"""

import argparse
import asyncio
import signal
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import bench.probe
from bench.probe.poller import GIVE_UP_S, ProbeStopped, Tally, probe
from bench.probe.status import status_path, stop_sentence, write_status


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.probe", description=(bench.probe.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--targets", required=True, help="comma-separated replica base URLs")
    parser.add_argument("--name", action="append", dest="names", metavar="NAME",
                        help="a replica's name, once per target, in --targets order (any"
                             " text: a service's X-Replica may hold a comma)")  # fmt: skip
    parser.add_argument("--keys", required=True, help="comma-separated probe-only product ids")
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--out", type=Path, required=True,
                        help="CSV file to write; its status goes beside it, as .json")  # fmt: skip
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--ttl", type=float, required=True, help="CACHE_TTL; cap = TTL + 2 s")
    parser.add_argument("--duration", type=float, required=True, help="seconds, at most")
    parser.add_argument("--give-up-s", type=float, default=GIVE_UP_S,
                        help="stop if no replica answered at all by then")  # fmt: skip
    args = parser.parse_args(argv)
    targets = args.targets.split(",")
    names = args.names or [str(i) for i in range(len(targets))]
    if len(names) != len(targets):
        parser.error(f"{len(names)} --name for {len(targets)} targets")
    return args, names


def main(argv: list[str] | None = None) -> int:
    args, names = parse(argv)
    status = status_path(args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    began, started_ns, tally = time.monotonic(), time.time_ns(), Tally()
    write_status(status, {"state": "running", "started_ns": started_ns})

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await probe(args, names, stop, tally)

    try:
        asyncio.run(run())
    except ProbeStopped as exc:
        reason = str(exc)
    except Exception as exc:  # a bug, or a disk that will not take the rows: say it, stop
        traceback.print_exc()
        reason = f"{type(exc).__name__}: {exc}"
    else:
        write_status(status, {"state": "ended", "started_ns": started_ns, **asdict(tally)})
        said = f"{tally.failed} failed, {tally.unwritten} unanswered, {tally.errors} errors"
        print(f"probe: {tally.cycles} cycles written to {args.out} ({said})", file=sys.stderr)
        return 0
    at_s = round(time.monotonic() - began, 1)
    print(stop_sentence({"at_s": at_s, "reason": reason}), file=sys.stderr)
    try:
        write_status(status, {"state": "stopped", "started_ns": started_ns, "at_s": at_s,
                              "reason": reason, **asdict(tally)})  # fmt: skip
    except OSError as exc:  # a full disk: the harness finds it `running`, and says so
        print(f"probe: its status could not be written: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
