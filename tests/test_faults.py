"""The fault schedule as data: specs parsed and refused, and the injector's timing and
records on a literal schedule (a recording target and a hand-turned clock as its inputs)."""

import math
import re

import pytest

from bench.faults.injector import COLUMNS, Injector
from bench.faults.spec import Fault, FaultSpecError, check_faults, parse_fault
from services.strategies import STRATEGIES


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("redis-kill@10+2", Fault("redis-kill", 10.0, 2.0)),
        ("redis-partition@10+5:1", Fault("redis-partition", 10.0, 5.0, 1.0)),
        ("subscriber-drop@3.5", Fault("subscriber-drop", 3.5)),
        ("origin-slow@1+2:50", Fault("origin-slow", 1.0, 2.0, 50.0)),
    ],
)
def test_a_spec_reads_back_as_itself(spec: str, fault: Fault) -> None:
    assert parse_fault(spec) == fault
    assert fault.spec == spec


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("redis-kill", "expected KIND@AT[+FOR][:ARG]"),
        ("redis-crash@1+2", "unknown kind 'redis-crash'"),
        ("redis-kill@soon+2", "AT 'soon' is not a number"),
        ("redis-kill@nan+2", "AT must be a finite number"),
        ("redis-kill@1", "redis-kill lasts: give +FOR"),
        ("redis-kill@1+0", "redis-kill lasts: give +FOR"),
        ("subscriber-drop@1+2", "subscriber-drop happens once: no +FOR"),
        ("redis-partition@1+2", "takes :R (a replica, from 1)"),
        ("redis-partition@1+2:0", "R is a replica number, from 1"),
        ("redis-partition@1+2:1.5", "R is a replica number, from 1"),
        ("redis-pause@1+2:3", "takes no :ARG"),
        ("origin-slow@1+2:-5", "ARG must be a finite number"),
    ],
)
def test_a_bad_spec_names_the_part_that_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(FaultSpecError, match=f"^--fault .*{re.escape(says)}"):
        parse_fault(spec)


def test_a_fault_must_fit_the_run() -> None:
    check_faults((parse_fault("replica-kill@5+5:3"),), replicas=3, duration_s=10)
    with pytest.raises(FaultSpecError, match="there are 2 replicas"):
        check_faults((parse_fault("replica-kill@5+5:3"),), replicas=2, duration_s=10)
    with pytest.raises(FaultSpecError, match="ends at 11 s, beyond the 10 s of load"):
        check_faults((parse_fault("redis-pause@5+6"),), replicas=2, duration_s=10)


class Recorder:
    """A FaultTarget that writes down what it was asked to do, and when."""

    def __init__(self, clock: list[float]) -> None:
        self.clock, self.calls = clock, []

    def __getattr__(self, name: str):  # every FaultTarget method
        def call(*args: object) -> None:
            if name == "restart_redis" and self.fail_restart:
                raise RuntimeError("port taken\nsecond line")
            self.calls.append((self.clock[0], name, *args))

        return call

    fail_restart = False


def test_the_injector_applies_each_event_when_its_time_comes() -> None:
    now = [100.0]
    target = Recorder(now)
    faults = [parse_fault(s) for s in ("redis-partition@2+3:2", "redis-pause@5+1",
                                       "subscriber-drop@4", "redis-kill@6+1")]  # fmt: skip
    injector = Injector(faults, target, STRATEGIES["delete"], clock=lambda: now[0],
                        wall_ns=lambda: int(now[0] * 1e9))  # fmt: skip
    injector.start()
    assert injector.due() == 2.0 and target.calls == []
    seen = []
    for t in (102.0, 104.9, 105.0, 106.5, 107.0):
        now[0] = t
        seen.append(injector.due())
    assert seen[:2] == [3.0, pytest.approx(0.1)] and seen[-1] == math.inf
    assert target.calls == [
        (102.0, "cut_link", 2),
        (105.0, "restore_link", 2),
        (105.0, "pause_redis"),
        (106.5, "resume_redis"),
        (106.5, "kill_redis"),
        (107.0, "restart_redis"),
    ]  # fmt: skip  (an end before a start at the same second; the late tick catches up)
    rows = {a.kind: a for a in injector.finish()}
    assert rows["subscriber-drop"].status == "not applicable"  # delete has no subscriber
    partition = rows["redis-partition"]
    assert (partition.status, partition.started_ns, partition.ended_ns) == (
        "applied", 102_000_000_000, 105_000_000_000,
    )  # fmt: skip
    assert len(partition.row()) == len(COLUMNS)


def test_a_fault_that_cannot_be_applied_is_recorded_and_the_load_goes_on() -> None:
    now = [0.0]
    target = Recorder(now)
    target.fail_restart = True
    injector = Injector([parse_fault("redis-kill@1+1"), parse_fault("redis-pause@3+1")],
                        target, STRATEGIES["pubsub"], clock=lambda: now[0])  # fmt: skip
    injector.start()
    now[0] = 3.5
    injector.due()
    rows = injector.finish()  # the load ended while the pause was on: it is ended now
    assert rows[0].status == "failed: port taken"
    assert rows[1].status == "applied" and rows[1].ended_ns is not None
    assert [call[1] for call in target.calls] == ["kill_redis", "pause_redis", "resume_redis"]


def test_a_fault_the_load_never_reached_says_so() -> None:
    now = [0.0]
    injector = Injector([parse_fault("redis-pause@30+1")], Recorder(now), STRATEGIES["ttl"],
                        clock=lambda: now[0])  # fmt: skip
    injector.start()
    [row] = injector.finish()
    assert row.status == "not reached: the load ended first" and row.started_ns is None
