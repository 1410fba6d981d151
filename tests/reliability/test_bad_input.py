"""Bad input against the live gateway: generated cases from its own OpenAPI, oversized, mistyped and odd bodies.

schemathesis generates valid and invalid requests for every operation, with the admin key and without any;
none may get a 5xx or a response that contradicts the schema. Hand-written cases cover what a schema cannot
express: bodies over the byte limit (413 before parsing), wrong content types, nesting, broken UTF-8, and
tweets in every script a traveller writes in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from local_stack.processes import wait_until
from tests.reliability.conftest import FaultStack, Served, record_fault, serve
from tests.reliability.fuzzing import fuzz_every_operation

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_BODY_BYTES = 64 * 1024
# Per operation, mode and caller: 10 operations x 2 modes x 3 callers x up to 25 cases: over 1,000 generated cases
# (operations without parameters have no invalid cases, and Hypothesis stops early on small input spaces).
EXAMPLES_PER_COMBINATION = 25


@pytest.fixture(scope="module")
def served(fault_stack: FaultStack) -> Iterator[Served]:
    stack = serve(
        fault_stack,
        "fuzz",
        MAX_BODY_BYTES=str(MAX_BODY_BYTES),
        PREDICT_RATE_LIMIT_PER_MINUTE="1000000",
        PREDICT_TWEET_LIMIT_PER_MINUTE="0",
    )
    yield stack
    fault_stack.stop_services()


def post_predict(url: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(url + "/predict", content=content, headers={"Content-Type": content_type}, timeout=30)


def test_generated_cases_get_no_5xx_and_match_the_schema(served: Served, fault_table) -> None:
    fuzzed = fuzz_every_operation(served.url, EXAMPLES_PER_COMBINATION)
    server_errors = fuzzed.server_errors
    record_fault(
        fault_table,
        "schemathesis: generated valid + invalid requests, every operation, 3 callers",
        fuzzed.total,
        fuzzed.total - server_errors,
        0,
        server_errors,
        fuzzed.summary(),
    )
    assert fuzzed.operations >= 4
    assert not fuzzed.failures, "\n".join(fuzzed.failures[:10])
    assert fuzzed.total >= 1000


def test_body_over_the_limit_is_refused_before_parsing(served: Served) -> None:
    # Not even JSON: a 413 proves the body was refused before anyone tried to parse it.
    declared = post_predict(served.url, b"x" * (MAX_BODY_BYTES + 1))
    assert declared.status_code == 413, declared.text
    assert str(MAX_BODY_BYTES) in declared.json()["detail"]
    assert declared.headers["X-Request-ID"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body streams in
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"[" * 1024

    streamed = httpx.post(served.url + "/predict/batch", content=chunks(), timeout=30)
    assert streamed.status_code == 413, streamed.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"text": "hello"}', "text/plain"),
        (b"text=hello", "application/x-www-form-urlencoded"),
        (b"<text>hello</text>", "application/xml"),
        (b"", "application/json"),
        (b"{not json", "application/json"),
    ],
)
def test_wrong_content_type_or_malformed_body_is_a_clear_4xx(served: Served, content: bytes, content_type: str) -> None:
    response = post_predict(served.url, content, content_type)
    assert response.status_code in (400, 415, 422), response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("deeply nested arrays", b'{"text": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
        ("deeply nested objects", b'{"text": ' + b'{"a":' * 8_000 + b"1" + b"}" * 8_000 + b"}"),
        ("invalid UTF-8", b'{"text": "caf\xe9 \xff\xfe delayed"}'),
        ("truncated UTF-8", b'{"text": "\xe2\x82"}'),
        ("lone surrogate escape", b'{"text": "flight \\ud83d delayed"}'),
        ("NUL escape", b'{"text": "bad\\u0000flight"}'),
    ],
)
def test_hostile_bodies_get_a_clear_4xx(served: Served, name: str, content: bytes) -> None:
    response = post_predict(served.url, content)
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
    detail = json.dumps(response.json()["detail"])
    assert any(hint in detail for hint in ("UTF-8", "surrogate", "NUL", "string")), (name, detail)


def test_utf16_json_is_answered_or_refused_clearly(served: Served) -> None:
    response = post_predict(served.url, '{"text": "great flight"}'.encode("utf-16"))  # JSON's BOM detection
    assert response.status_code == 200 or (400 <= response.status_code < 500 and response.json()["detail"])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("280 emoji", "😡" * 280),
        ("emoji with joiners", "👨‍👩‍👧‍👦✈️🧳 " * 20),
        ("right-to-left Arabic", "رحلة رائعة مع طاقم ودود شكرا"),
        ("right-to-left Hebrew with marks", "\u202bטיסה נהדרת\u202c @united"),
        ("mixed scripts", "@united 航班延误 задержка рейса délai ✈ 비행기"),
        ("control characters", "delayed\x07\x1b[31m again\r\n\t!"),
        ("zero-width and BOM", "\ufeffgreat\u200b flight\u200d"),
        ("combining marks", "Z̴̛͉a̸l̷g̵o̶ flight"),
        ("only punctuation", "?!?!... :( :("),
    ],
)
def test_odd_but_valid_tweets_are_answered(served: Served, name: str, text: str) -> None:
    response = httpx.post(served.url + "/predict", json={"text": text}, timeout=30)
    assert response.status_code == 200, (name, response.text)
    assert response.json()["label"] in ("positive", "negative")
    batch = httpx.post(served.url + "/predict/batch", json={"texts": [text, "ok"]}, timeout=30)
    assert batch.status_code == 200, (name, batch.text)


def test_every_response_carries_a_request_id_found_in_gateway_and_worker_logs(served: Served) -> None:
    request_id = "reliability-trace-42"
    response = httpx.post(
        served.url + "/predict", json={"text": "@united on time!"}, headers={"X-Request-ID": request_id}, timeout=30
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id
    # Log lines are written by each process's logging thread, a moment after the answer.
    wait_until(
        lambda: f"request_id={request_id}" in served.gateway.log_path.read_text(errors="replace"), 10, "access line"
    )
    wait_until(lambda: request_id in served.worker.log_path.read_text(errors="replace"), 10, "worker line")
    # Errors carry one too, and a hostile id (log injection) is replaced rather than echoed.
    for method, path, body in (("GET", "/nope", None), ("POST", "/predict", {}), ("GET", "/alerts", None)):
        answer = httpx.request(method, served.url + path, json=body, timeout=10)
        assert answer.status_code >= 400 and len(answer.headers["X-Request-ID"]) >= 16
    hostile = httpx.get(served.url + "/health", headers={"X-Request-ID": "a b fake_status=200"}, timeout=10)
    assert " " not in hostile.headers["X-Request-ID"]
