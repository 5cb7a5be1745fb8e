"""`cache-bench` (or `python -m bench`, the same program): the map of the tool.

Bad input gets exit code 2 and one readable line; nothing is started before
the arguments have been checked. `options` holds what the commands share; `run` and
`sweep` the commands themselves.
"""

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from bench.cli.check import add_check_command
from bench.cli.contract import add_contract_command
from bench.cli.options import PROG, Parser, UsageError
from bench.cli.run import add_run_commands
from bench.cli.sweep import add_sweep_commands
from bench.disk import DiskFull, disk_full_words, no_space
from bench.runtime.signals import Interrupted, raise_interrupted


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Benchmark cache-invalidation strategies.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_run_commands(commands)
    add_sweep_commands(commands)
    add_contract_command(commands)
    add_check_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM unwinds like Ctrl-C, so a run or sweep between its supervised parts
        # is still marked interrupted (and exits 143, as a shell reports SIGTERM).
        signal.signal(signal.SIGTERM, raise_interrupted)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (DiskFull, OSError) as exc:  # where no run or report was there to say it
        full = no_space(exc)
        if full is None:
            raise
        print(f"{PROG} {args.command}: error: {disk_full_words(full)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # outside a run (a report, a dry run): nothing to mark
        return exc.exit_code if isinstance(exc, Interrupted) else 130
