"""Generated cases against a gateway with its production body limit and a real, reachable rate limit.

test_bad_input.py fuzzes with a small body limit and the rate limit out of the way; here the limits are the
shipped defaults for the body and a low request allowance, so that 413 and 429 answers (and the 503s of a stack
without workers or registry) are generated too and must be in the OpenAPI like every other answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.processes import ManagedProcess, free_port, start_redis
from tests.conftest import Stack, start_gateway
from tests.reliability.conftest import record_fault
from tests.reliability.fuzzing import fuzz_every_operation

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES_PER_COMBINATION = 10
# Each caller sends about 40 requests to the two predict routes (2 modes x 10 examples each) within seconds. The
# limit counts fixed minutes, so a minute boundary can split them; at a quarter of them, one side is over either way.
REQUESTS_PER_MINUTE = 10
# No worker and no registry run here, so 503 is an expected (documented) answer; any other 5xx is a failure.
ALLOWED_5XX = frozenset({503})


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
    fuzzed = fuzz_every_operation(limited_gateway, EXAMPLES_PER_COMBINATION, ALLOWED_5XX)
    server_errors = fuzzed.server_errors
    record_fault(
        fault_table,
        f"schemathesis under the production body limit and a {REQUESTS_PER_MINUTE}/min rate limit"
        " (no worker, no registry)",
        fuzzed.total,
        fuzzed.total - server_errors,
        fuzzed.statuses.get(503, 0),
        server_errors,
        fuzzed.summary(),
    )
    assert fuzzed.statuses.get(429, 0) > 0, f"the rate limit was never reached: {dict(fuzzed.statuses)}"
    assert fuzzed.failures == [], "\n".join(fuzzed.failures[:20])
