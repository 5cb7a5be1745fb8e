"""`--fault KIND@AT[+FOR][:ARG]`: one fault as data, parsed and checked.

AT and FOR are seconds from the start of the load; ARG is a 1-based replica number or a
number of milliseconds, as the kind says. A bad spec is refused with one line naming the
part that is wrong, before anything starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.faults.amount import amount
from bench.faults.kinds import KINDS, Kind

SPEC = re.compile(r"^(?P<kind>[a-z-]+)@(?P<at>[^+:]+)(?:\+(?P<for>[^:]+))?(?::(?P<arg>.+))?$")


class FaultSpecError(ValueError):
    """A --fault that cannot be applied; the message is one line naming the part."""


@dataclass(frozen=True)
class Fault:
    kind: str
    at_s: float
    for_s: float | None = None
    arg: float | None = None  # the replica (1-based) or the milliseconds

    @property
    def spec(self) -> str:
        """As it would be typed: `redis-partition@10+5:1`."""
        lasting = f"+{self.for_s:g}" if self.for_s is not None else ""
        return f"{self.kind}@{self.at_s:g}{lasting}" + (f":{self.arg:g}" if self.arg else "")

    @property
    def kind_of(self) -> Kind:
        return KINDS[self.kind]

    @property
    def end_s(self) -> float:
        return self.at_s + (self.for_s or 0.0)


def seconds(text: str, part: str, spec: str) -> float:
    try:
        return amount(text)
    except ValueError as wrong:
        raise FaultSpecError(f"--fault {spec}: {part} {wrong}") from None


def parse_fault(spec: str) -> Fault:
    """One `KIND@AT[+FOR][:ARG]`, checked on its own (the run's limits: `check_faults`)."""
    match = SPEC.match(spec.strip())
    if match is None:
        raise FaultSpecError(f"--fault {spec!r}: expected KIND@AT[+FOR][:ARG]")
    name = match["kind"]
    if name not in KINDS:
        raise FaultSpecError(f"--fault {spec}: unknown kind {name!r}; choose from"
                             f" {', '.join(KINDS)}")  # fmt: skip
    kind = KINDS[name]
    at_s = seconds(match["at"], "AT", spec)
    for_s = None if match["for"] is None else seconds(match["for"], "FOR", spec)
    if kind.lasts and not for_s:
        raise FaultSpecError(f"--fault {spec}: {name} lasts: give +FOR (seconds, above 0)")
    if not kind.lasts and for_s is not None:
        raise FaultSpecError(f"--fault {spec}: {name} happens once: no +FOR")
    if (kind.arg is None) != (match["arg"] is None):
        wanted = {"replica": ":R (a replica, from 1)", "ms": ":MS (milliseconds)"}
        raise FaultSpecError(f"--fault {spec}: {name} takes "
                             f"{wanted[kind.arg] if kind.arg else 'no :ARG'}")  # fmt: skip
    arg = None if match["arg"] is None else seconds(match["arg"], "ARG", spec)
    if kind.arg == "replica" and (arg is None or arg < 1 or arg != int(arg)):
        raise FaultSpecError(f"--fault {spec}: R is a replica number, from 1")
    return Fault(name, at_s, for_s, arg)


def check_faults(faults: tuple[Fault, ...], replicas: int, duration_s: float) -> None:
    """Each fault fits the run: its replica exists, it starts and ends within the load."""
    for fault in faults:
        if fault.kind_of.arg == "replica" and fault.arg is not None and fault.arg > replicas:
            raise FaultSpecError(f"--fault {fault.spec}: there are {replicas} replicas")
        if fault.end_s > duration_s or fault.at_s >= duration_s:
            raise FaultSpecError(f"--fault {fault.spec}: ends at {fault.end_s:g} s, beyond"
                                 f" the {duration_s:g} s of load")  # fmt: skip
