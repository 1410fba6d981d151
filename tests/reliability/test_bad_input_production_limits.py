"""Generated cases against a gateway with its production body limit and a real, reachable rate limit.

test_bad_input.py fuzzes with a small body limit and the rate limit out of the way; here the limits are the
shipped defaults for the body and a low request allowance, so that 413 and 429 answers (and the 503s of a stack
without workers or registry) are generated too and must be in the OpenAPI like every other answer.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local_stack.processes import ManagedProcess, free_port, start_redis
from tests.conftest import Stack, start_gateway
from tests.reliability.conftest import record_fault
from tests.reliability.test_bad_input import CALLERS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES_PER_COMBINATION = 10
# Each caller sends about 40 requests to the two predict routes (2 modes x 10 examples each) within seconds. The
# limit counts fixed minutes, so a minute boundary can split them; at a quarter of them, one side is over either way.
REQUESTS_PER_MINUTE = 10
# No worker and no registry run here, so 503 is an expected (documented) answer; any other 5xx is a failure.
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz_operation(url: str, operation, mode: GenerationMode, caller: str, statuses: Counter, failures: list) -> None:
    headers = CALLERS[caller]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_COMBINATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        response = case.call(base_url=url, headers=headers, timeout=30)
        statuses[response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            failures.append(f"{operation.label} [{mode}, {caller}] -> {response.status_code}: {response.text[:300]}")
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # collect every failing case, report them all at once
            failures.append(f"{operation.label} [{mode}, {caller}] -> {response.status_code}: {exc}")

    with contextlib.suppress(Unsatisfiable):  # no negative cases for an operation without parameters or body
        run()


@pytest.fixture(scope="module")
def limited_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("production-limits")
    redis_process, url = start_redis(base / "redis")
    stack = Stack(redis_url=url, mlflow_url=f"http://127.0.0.1:{free_port()}", log_dir=base / "logs")
    gateway: ManagedProcess | None = None
    try:
        gateway, gateway_url = start_gateway(
            stack, name="gateway-production-limits", PREDICT_RATE_LIMIT_PER_MINUTE=str(REQUESTS_PER_MINUTE)
        )
        yield gateway_url
    finally:
        if gateway is not None:
            gateway.stop()
        redis_process.stop()


def test_generated_cases_under_production_limits_match_the_schema(limited_gateway: str, fault_table: Path) -> None:
    schema = schemathesis.openapi.from_url(limited_gateway + "/openapi.json")
    statuses: Counter = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for caller in CALLERS:
                fuzz_operation(limited_gateway, operation, mode, caller, statuses, failures)
    total = sum(statuses.values())
    server_errors = sum(n for code, n in statuses.items() if code >= 500 and code != 503)
    record_fault(
        fault_table,
        f"schemathesis under the production body limit and a {REQUESTS_PER_MINUTE}/min rate limit"
        " (no worker, no registry)",
        total,
        total - server_errors,
        statuses.get(503, 0),
        server_errors,
        f"{total} cases over {len(operations)} operations; statuses {dict(sorted(statuses.items()))}",
    )
    assert statuses.get(429, 0) > 0, f"the rate limit was never reached: {dict(statuses)}"
    assert failures == [], "\n".join(failures[:20])
