"""A strategy's own settings, each declared once, as data.

An `Option` is all there is to one setting: its environment variable, type, default,
bounds and help. From that record the replica's settings read and check it, `bench run`
and `bench sweep` make a flag for it (`--<strategy>-<name>`) and a sweep may vary it
(`--vary <strategy>.<name>=...`), every runtime passes it to the strategy's replicas,
`run.json` records it and the report states it. Before this, one option was written
in nine files, and a sweep silently dropped it.

Free of everything but the standard library: the registry, the service's settings and
the harness all import it without loading a cache or database client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OptionValue = float | int | bool | None
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Option:
    """One setting of one strategy.

    default: None means "not set": the strategy derives the value itself (`default_text`
        says from what, for the help and the report).
    above: values must be greater than this (floats and ints only).
    """

    name: str
    env: str
    kind: type[float] | type[int] | type[bool]
    default: OptionValue
    help: str
    above: float | None = None
    default_text: str = ""

    def flag(self, strategy: str) -> str:
        """The command-line flag, e.g. `--xfetch-beta`."""
        return f"--{strategy}-{self.name}"

    def key(self, strategy: str) -> str:
        """The name a sweep's `--vary` and run.json use, e.g. `xfetch.beta`."""
        return f"{strategy}.{self.name}"

    def describe_default(self) -> str:
        return self.default_text or str(self.default).lower()

    def parse(self, given: str | OptionValue) -> OptionValue:
        """The value of `given` (environment text or a Python value) or the default when
        it is None or empty (an environment variable set to nothing, as compose passes an
        option the harness left unset); ValueError with a readable reason otherwise."""
        if given is None or given == "":
            return self.default
        if self.kind is bool:
            return self._parse_bool(given)
        if isinstance(given, bool):
            raise ValueError(f"must be a number, not {given}")
        try:
            value = self.kind(given)
        except (TypeError, ValueError):
            raise ValueError(f"must be a{'n integer' if self.kind is int else ' number'},"
                             f" got {given!r}") from None  # fmt: skip
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {given!r}")
        if self.above is not None and value <= self.above:
            raise ValueError(f"must be greater than {self.above:g}, got {value:g}")
        return value

    def _parse_bool(self, given: str | OptionValue) -> bool:
        if isinstance(given, bool):
            return given
        text = str(given).strip().lower()
        if text in TRUE or text in FALSE:
            return text in TRUE
        raise ValueError(f"must be 1 or 0, got {given!r}")

    def env_text(self, value: OptionValue) -> str:
        """How the value is passed in the replica's environment."""
        if isinstance(value, bool):
            return "1" if value else "0"
        return repr(value)
