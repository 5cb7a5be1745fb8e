"""Schemathesis fuzzes a served replica from its own /openapi.json.

The replica is `python -m services` (gunicorn + uvicorn, as the runtimes serve it) on a
real Redis and a seeded origin, so the whole HTTP stack is in the loop, the server's
own parsing included. Every published operation gets schema-valid and schema-invalid
examples; any 5xx, an undocumented status code or content type, or a body off its
response schema fails the test.
"""

from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bench.runtime.local.replicas import ReplicaConfig, start_replicas
from bench.runtime.processes import Supervisor

pytestmark = pytest.mark.slow  # about 15 s of generated requests

# Examples per operation and mode; the four tests (2 modes x 2 origins) take ~20 s in all.
EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
TAKING_INPUT = {
    "GET /products/{product_id}",
    "PATCH /products/{product_id}",
    "GET /categories/{category}/products",
}
EVERY_OPERATION = {*TAKING_INPUT, "GET /healthz", "GET /metrics"}


def takes_input(operation: APIOperation) -> bool:
    """Whether schema-invalid examples exist: an operation without inputs has none."""
    return bool(operation.body) or any(True for _ in operation.iter_parameters())


def fuzz(case_strategy: SearchStrategy[Case], base_url: str, session: requests.Session) -> None:
    """Run one operation's examples; derandomized, so a failure reproduces on every run."""

    @given(case=case_strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Case) -> None:
        case.call_and_validate(base_url=base_url, session=session, checks=CHECKS)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_every_operation(
    mode: GenerationMode, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    config = ReplicaConfig("pubsub", redis_url, database_url, ttl_s=30)
    with Supervisor(grace_s=5) as supervisor, requests.Session() as session:
        (served,) = start_replicas(supervisor, config, 1, tmp_path)
        schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
        fuzzed = set()
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"schema error: {result.err()}"
            operation = result.ok()
            if mode.is_negative and not takes_input(operation):
                continue
            fuzz(operation.as_strategy(generation_mode=mode), served.url, session)
            fuzzed.add(operation.label)
        assert fuzzed == (EVERY_OPERATION if mode.is_positive else TAKING_INPUT)
