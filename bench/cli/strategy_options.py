"""The strategies' declared options as command-line flags, for `run` and `sweep` alike.

Every flag comes from a declaration (`services.strategies.options.Option`): adding an
option to a strategy's registry entry adds its flag here, with no line of this module
changed. `--vary strategy.option=V1,V2` makes a sweep's matrix axis of one.
"""

from __future__ import annotations

import argparse
from typing import Any

from services.strategies import STRATEGIES, OptionValue

DEST = "option:{key}"  # an argparse dest no other flag can take


def add_strategy_options(parser: argparse.ArgumentParser) -> None:
    """One flag per declared option, in a group of its own: `--xfetch-beta B`, ..."""
    group = parser.add_argument_group("strategy options (each for its strategy's replicas)")
    for spec in STRATEGIES.values():
        for option in spec.options:
            help_text = f"{spec.name}: {option.help} (default {option.describe_default()})"
            dest = DEST.format(key=option.key(spec.name))
            if option.kind is bool:
                group.add_argument(option.flag(spec.name), dest=dest, action="store_const",
                                   const=True, default=None, help=help_text)  # fmt: skip
            else:
                group.add_argument(option.flag(spec.name), dest=dest, default=None,
                                   metavar=option.name.upper(), help=help_text)  # fmt: skip


def given_options(args: argparse.Namespace) -> dict[str, OptionValue]:
    """The options given on the command line, by `strategy.option`, as text or True
    (`RunConfig` parses and checks each against its declaration)."""
    prefix = DEST.format(key="")
    return {
        dest.removeprefix(prefix): value
        for dest, value in vars(args).items()
        if dest.startswith(prefix) and value is not None
    }


def variation(text: str) -> tuple[str, tuple[Any, ...]]:
    """`--vary xfetch.beta=1,2,4` as ("xfetch.beta", ("1", "2", "4")): the values stay
    text until the sweep's config checks them against the declaration."""
    key, sep, values = text.partition("=")
    strategy, _, name = key.partition(".")
    if not sep or not values:
        raise argparse.ArgumentTypeError(f"{text!r}: expected STRATEGY.OPTION=V1,V2,...")
    try:
        STRATEGIES[strategy].option(name)
    except KeyError:
        declared = [o.key(s.name) for s in STRATEGIES.values() for o in s.options]
        raise argparse.ArgumentTypeError(
            f"{key!r} is no declared option; choose from {', '.join(declared)}"
        ) from None
    return key, tuple(v.strip() for v in values.split(","))
