"""schemathesis over every operation of a live gateway's OpenAPI, valid and invalid cases, as each caller.

The bad-input tests run it against gateways under different limits; each says which answers it accepts.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN_KEY, ANALYST_KEY

CALLERS = {"admin key": {"X-API-Key": ADMIN_KEY}, "analyst key": {"X-API-Key": ANALYST_KEY}, "no key": {}}
# A 5xx is judged apart (fuzz_every_operation's allowed_5xx), so that a documented 503 can be accepted.
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class FuzzResult:
    operations: int = 0
    allowed_5xx: frozenset[int] = frozenset()
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        """5xx answers other than the allowed ones."""
        return sum(n for code, n in self.statuses.items() if code >= 500 and code not in self.allowed_5xx)

    def summary(self) -> str:
        return f"{self.total} cases over {self.operations} operations; statuses {dict(sorted(self.statuses.items()))}"


def fuzz_every_operation(url: str, examples: int, allowed_5xx: frozenset[int] = frozenset()) -> FuzzResult:
    """Up to `examples` cases per operation, mode and caller; a 5xx outside `allowed_5xx`, or an answer that
    contradicts the schema (status, content type, body), is a failure."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    result = FuzzResult(operations=len(operations), allowed_5xx=allowed_5xx)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for caller, headers in CALLERS.items():
                label = f"{operation.label} [{mode}, {caller}]"
                _fuzz(url, operation, mode, label, headers, examples, result)
    return result


def _fuzz(
    url: str,
    operation,
    mode: GenerationMode,
    label: str,
    headers: dict[str, str],
    examples: int,
    result: FuzzResult,
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        response = case.call(base_url=url, headers=headers, timeout=30)
        result.statuses[response.status_code] += 1
        if response.status_code >= 500 and response.status_code not in result.allowed_5xx:
            result.failures.append(f"{label} -> {response.status_code}: {response.text[:300]}")
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # every failing case is collected, to report them all
            result.failures.append(f"{label} -> {response.status_code}: {exc}")

    with contextlib.suppress(Unsatisfiable):  # no negative cases for an operation without parameters or body
        run()
