"""Alerts one person cannot forge, on a real gateway, alerting process, Redis and SMTP server: flip-flops of one
prediction count once, feedback is rate-limited per key, named keys say who flagged, ambiguous keys refuse to start."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from local_stack.processes import PYTHON, ManagedProcess, free_port, wait_until
from shared import redis_keys
from shared.events import MISPREDICTIONS_STREAM, decode
from shared.schemas.base import new_id
from shared.schemas.events import MispredictionEvent
from tests.conftest import ANALYST_KEY, SmtpSink, Stack, alerting_env, start_gateway
from tests.factories import make_prediction_record, store_prediction_record

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEEDBACK_LIMIT = 8
KEYS = {
    "alice": ("analyst", "alice-key-7d1f0c9a2b"),
    "bob": ("analyst", "bob-key-5e8a3d6f10"),
    "erin": ("analyst", "erin-key-c4b2a90e7f"),
    "dave": ("analyst", "dave-key-0f3e6b8c51"),
    "root": ("admin", "root-key-91ab77c3d2"),
}


def key_of(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name][1]}


@pytest.fixture(scope="module")
def named_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway with named keys: alice and bob inline (API_KEYS), erin and the admin root from a keys file."""
    inline = [{"name": n, "role": KEYS[n][0], "key": KEYS[n][1]} for n in ("alice", "bob", "dave")]
    keys_file = tmp_path_factory.mktemp("keys") / "api-keys.json"
    keys_file.write_text(json.dumps([{"name": n, "role": KEYS[n][0], "key": KEYS[n][1]} for n in ("erin", "root")]))
    process, url = start_gateway(
        stack,
        name="gateway-named-keys",
        API_KEYS=json.dumps(inline),
        API_KEYS_FILE=str(keys_file),
        FEEDBACK_RATE_LIMIT_PER_MINUTE=str(FEEDBACK_LIMIT),
    )
    yield url
    process.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(stack.redis_url)
    yield connection
    connection.close()


def recorded_prediction(client: redis.Redis, text: str, label: str = "positive") -> str:
    """A prediction as the inference worker records it (that path is tested in test_predict_path)."""
    return store_prediction_record(client, make_prediction_record(text, label))


def flag(url: str, who: str, prediction_id: str, label: str) -> httpx.Response:
    return httpx.post(
        url + "/feedback",
        json={"prediction_id": prediction_id, "correct_label": label},
        headers=key_of(who),
        timeout=10,
    )


def start_own_alerting(
    client: redis.Redis, stack: Stack, smtp: SmtpSink, alerting_process
) -> tuple[str, ManagedProcess]:
    """An alerting process in a consumer group of its own that starts at the stream's end: other tests' flags stay
    out of its window."""
    group = f"alerting-abuse-{new_id()[:8]}"
    env = alerting_env(stack.redis_url, smtp.port, CONSUMER_GROUP=group, GROUP_START_ID="$")
    process = alerting_process(env, name="alerting-abuse")
    wait_until(
        lambda: any(g["name"].decode() == group for g in client.xinfo_groups(MISPREDICTIONS_STREAM)),
        30,
        "alerting consumer group",
        process,
    )
    return group, process


def group_info(client: redis.Redis, group: str) -> dict:
    [info] = [g for g in client.xinfo_groups(MISPREDICTIONS_STREAM) if g["name"].decode() == group]
    return info


def events_about(client: redis.Redis, prediction_ids: set[str]) -> list[tuple[str, MispredictionEvent]]:
    found = []
    for stream_id, fields in client.xrange(MISPREDICTIONS_STREAM):
        event = decode(fields, MispredictionEvent)
        if event.prediction_id in prediction_ids:
            found.append((stream_id.decode(), event))
    return found


def reports_about(client: redis.Redis, prediction_ids: set[str]) -> list[dict]:
    found = []
    for report_id in client.zrange(redis_keys.ALERT_REPORTS_INDEX, 0, -1):
        raw = client.get(redis_keys.alert_report(report_id.decode()))
        report = json.loads(raw) if raw else None
        if report and {e["prediction_id"] for e in report["events"]} & prediction_ids:
            found.append(report)
    return found


def test_one_prediction_flagged_wrong_right_wrong_right_wrong_sends_no_report(
    named_gateway: str, stack: Stack, client: redis.Redis, smtp_server: SmtpSink, alerting_process
) -> None:
    group, process = start_own_alerting(client, stack, smtp_server, alerting_process)
    flipped = recorded_prediction(client, "@united flip flop flight", label="positive")
    answers = [flag(named_gateway, "alice", flipped, label) for label in ["negative", "positive"] * 2 + ["negative"]]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200], [a.text for a in answers]
    flips = events_about(client, {flipped})
    assert len(flips) == 3  # each change to "wrong" is still an event, for the audit trail
    # Alerting has read all three: one stays in the window, the other two are acknowledged as already counted.
    last_id = flips[-1][0]
    wait_until(
        lambda: (
            group_info(client, group)["last-delivered-id"].decode() == last_id
            and group_info(client, group)["pending"] == 1
        ),
        15,
        "the three flips read, two acknowledged as duplicates",
        process,
    )
    time.sleep(1.0)  # a report would be on its way by now
    assert smtp_server.messages == [] and reports_about(client, {flipped}) == []

    # Two more predictions flagged by someone else: three different predictions, one report.
    others = [recorded_prediction(client, f"@united other wrong one {n}") for n in range(2)]
    for prediction_id in others:
        assert flag(named_gateway, "bob", prediction_id, "negative").status_code == 201
    [message] = smtp_server.wait_for(1, timeout_s=20)
    text = message.get_body(("plain",)).get_content()
    assert "3 predictions were flagged as wrong" in text and text.count("@united flip flop flight") == 1
    assert "Flagged by: bob (2), alice (1)." in text
    wait_until(lambda: group_info(client, group)["pending"] == 0, 10, "every event acknowledged", process)
    [report] = reports_about(client, {flipped})
    assert sorted(e["prediction_id"] for e in report["events"]) == sorted([flipped, *others])
    time.sleep(1.0)
    assert len(smtp_server.messages) == 1


def test_the_report_and_get_alerts_name_who_flagged_never_their_key(
    named_gateway: str, stack: Stack, client: redis.Redis, smtp_server: SmtpSink, alerting_process
) -> None:
    start_own_alerting(client, stack, smtp_server, alerting_process)
    flaggers = ["erin", "root", "erin"]  # erin's key from the keys file, root an admin from it
    ids = [recorded_prediction(client, f"@delta named flag {n}") for n in range(3)]
    for who, prediction_id in zip(flaggers, ids, strict=True):
        answer = flag(named_gateway, who, prediction_id, "negative")
        assert answer.status_code == 201, answer.text
        assert answer.json()["analyst"] == who
    [message] = smtp_server.wait_for(1, timeout_s=20)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Flagged by: erin (2), root (1)." in text and "Flagged by: erin (2), root (1)." in html
    assert "flagged by root at" in text and "<td>erin</td>" in html
    raw_message = message.as_string()
    assert all(key not in raw_message for _, key in KEYS.values())

    wait_until(lambda: reports_about(client, set(ids)), 10, "report stored")
    overview = httpx.get(named_gateway + "/alerts", params={"limit": 500}, headers=key_of("bob"), timeout=10)
    assert overview.status_code == 200, overview.text
    body = overview.json()
    named = {e["event"]["prediction_id"]: e["event"]["analyst"] for e in body["events"]}
    assert [named[p] for p in ids] == flaggers
    [report] = [r for r in body["reports"] if {e["prediction_id"] for e in r["events"]} == set(ids)]
    assert sorted(e["analyst"] for e in report["events"]) == ["erin", "erin", "root"]
    assert all(key not in overview.text for _, key in KEYS.values())


def test_feedback_beyond_the_per_key_limit_is_429_with_retry_after(named_gateway: str, client: redis.Redis) -> None:
    # Both counts in one minute window: start early enough in the minute.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    headers = key_of("dave")  # a name no other test flags with: its count is this test's alone
    prediction_id = recorded_prediction(client, "@jetblue rate limited flag")
    answers = []
    for n in range(FEEDBACK_LIMIT + 1):
        label = "negative" if n % 2 == 0 else "positive"
        answers.append(
            httpx.post(
                named_gateway + "/feedback",
                json={"prediction_id": prediction_id, "correct_label": label},
                headers=headers,
                timeout=10,
            )
        )
    assert [a.status_code for a in answers[:FEEDBACK_LIMIT]] == [201] + [200] * (FEEDBACK_LIMIT - 1)
    refused = answers[-1]
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    detail = refused.json()["detail"]
    assert f"feedback rate limit of {FEEDBACK_LIMIT} requests per minute" in detail and "'dave'" in detail
    assert KEYS["dave"][1] not in detail
    stored = json.loads(client.get(redis_keys.feedback_by_prediction(prediction_id)))
    assert stored["correct_label"] == (
        "negative" if (FEEDBACK_LIMIT - 1) % 2 == 0 else "positive"
    )  # refused: unwritten
    # Another key has its own allowance.
    other = flag(named_gateway, "bob", recorded_prediction(client, "@jetblue another key"), "negative")
    assert other.status_code == 201, other.text


def test_near_misses_of_a_named_key_are_refused(named_gateway: str, client: redis.Redis) -> None:
    prediction_id = recorded_prediction(client, "@aa near miss")
    key = KEYS["alice"][1]
    for near_miss in (key[:-1], key + "a", key[:-1] + chr(ord(key[-1]) + 1), key.upper(), KEYS["bob"][1][:-1]):
        answer = httpx.post(
            named_gateway + "/feedback",
            json={"prediction_id": prediction_id, "correct_label": "negative"},
            headers={"X-API-Key": near_miss},
            timeout=10,
        )
        assert answer.status_code == 401, (near_miss, answer.text)
    assert flag(named_gateway, "alice", prediction_id, "negative").status_code == 201


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"ANALYST_API_KEY": "shared-key-0000", "ADMIN_API_KEY": "shared-key-0000"},
            "the admin key of 'admin' equals the analyst key of 'analyst'",
        ),
        (
            {"API_KEYS": json.dumps([{"name": "root", "role": "admin", "key": ANALYST_KEY}])},
            "the admin key of 'root' equals the analyst key of 'analyst'",
        ),
        (
            {
                "API_KEYS": json.dumps([{"name": "alice", "role": "analyst", "key": "shared-key-1111"}]),
                "KEYS_FILE_CONTENT": json.dumps([{"name": "root", "role": "admin", "key": "shared-key-1111"}]),
            },
            "the admin key of 'root' equals the analyst key of 'alice'",
        ),
    ],
)
def test_a_gateway_whose_admin_key_equals_an_analyst_key_refuses_to_start(
    stack: Stack, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    env = dict(env)
    if "KEYS_FILE_CONTENT" in env:
        keys_file = tmp_path / "api-keys.json"
        keys_file.write_text(env.pop("KEYS_FILE_CONTENT"))
        env["API_KEYS_FILE"] = str(keys_file)
    process_env = {**stack.env(HOST="127.0.0.1", GATEWAY_PORT=str(free_port())), **env}
    try:
        completed = subprocess.run(
            [PYTHON, "-m", "gateway"], env={**os.environ, **process_env}, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the gateway started (still running after 30 s) with an admin key equal to an analyst key")
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "gateway refuses to start" in output and expected in output, output[-2000:]
    assert "Traceback" not in output
    for secret in ("shared-key-0000", "shared-key-1111", ANALYST_KEY):
        assert secret not in output
