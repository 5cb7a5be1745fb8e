"""`bench contract`: does a running service keep the contract the suite measures by?

One line per check and a verdict; exit 0 when the contract holds, 1 when it does not
(freshness findings are printed, never a breach) or the deadline ran out first (the line
names the rule it was checking), 2 for bad input as everywhere.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.cli.options import UsageError, add_target_options, positive_int, seconds


def cmd_contract(args: argparse.Namespace) -> int:
    from bench.contract import Catalogue, check_contract

    if not args.targets or not args.probe_ids:
        raise UsageError("needs --targets URL[,URL...] and --probe-ids FIRST-LAST")
    if len(args.probe_ids) < 2:
        raise UsageError("--probe-ids: at least two ids, the probe's and one for the write")
    if inside := [i for i in args.probe_ids if i <= args.products]:
        raise UsageError(f"--probe-ids: {inside[0]} is a load product (1..{args.products})")
    if args.categories > args.products:
        raise UsageError("--categories cannot exceed --products")
    findings = check_contract(
        args.targets, Catalogue(args.products, args.categories, args.probe_ids), args.deadline
    )
    print("\n".join(findings.lines()))
    return 0 if findings.holds else 1


def add_contract_command(commands: Any) -> None:
    from bench.run_config import RunConfig
    from bench.targets import CONTRACT_DEADLINE_S

    defaults = RunConfig()
    contract = commands.add_parser(
        "contract", help="check a running service against the contract before measuring it"
    )
    add_target_options(contract)
    contract.add_argument("--products", type=positive_int, default=defaults.products)
    contract.add_argument("--categories", type=positive_int, default=defaults.categories)
    contract.add_argument(
        "--deadline", type=seconds, default=CONTRACT_DEADLINE_S, metavar="SECONDS",
        help=f"the whole check's time limit (default {CONTRACT_DEADLINE_S:g}); each request"
             " also has 5 s at most",
    )  # fmt: skip
    contract.set_defaults(handler=cmd_contract)
