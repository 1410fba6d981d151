"""Restart Redis (AOF on) under the gateway, an inference worker and the alerting service: /ready turns red and says
why, predictions and feedback answer 503 + Retry-After, every process reconnects by itself, and what was accepted
before the restart (feedback, misprediction events, a queued training job) is still there after it."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from datetime import datetime

import httpx
import pytest
import redis

from local_stack.processes import start_redis, start_service, wait_until
from shared import events, redis_keys
from shared.celery_config import TRAINING_QUEUE
from tests.conftest import ADMIN_KEY, ANALYST_KEY, TINY_LSTM_PARAMS
from tests.reliability.conftest import FaultStack, record_fault, serve, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANALYST = {"X-API-Key": ANALYST_KEY}
TWEETS = ["@united great crew, thanks!", "@united lost my bag", "@united seat was fine"]


def flip(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def alerting_seen_at(client: redis.Redis) -> datetime | None:
    raw = client.get(redis_keys.ALERTING_HEARTBEAT)
    return datetime.fromisoformat(json.loads(raw)["seen_at"]) if raw else None


def test_redis_restart_loses_nothing_and_everyone_reconnects(faults: FaultStack, fault_table, tmp_path) -> None:
    served = serve(faults, "redis")
    faults.service(
        start_service(
            "redis-alerting",
            ["alerting"],
            faults.stack.env(OUTBOX_DIR=str(tmp_path / "outbox"), ALERT_COOLDOWN_S="0"),
            faults.stack.log_dir,
        )
    )
    client = redis.Redis.from_url(faults.stack.redis_url)
    wait_until(lambda: alerting_seen_at(client) is not None, 60, "alerting heartbeat")
    sent = answered = explicit = 0

    def call(method: str, path: str, **kwargs) -> httpx.Response:
        nonlocal sent, answered, explicit
        sent += 1
        response = httpx.request(method, served.url + path, timeout=30, **kwargs)
        if response.status_code < 400:
            answered += 1
        elif response.status_code == 503 and response.headers.get("Retry-After", "").isdigit():
            explicit += 1
        return response

    # Before: predictions, flags that contradict them (misprediction events), a training job nobody runs yet.
    predictions = [call("POST", "/predict", json={"text": text}).json() for text in TWEETS]
    for prediction in predictions:
        flagged = call(
            "POST",
            "/feedback",
            json={"prediction_id": prediction["prediction_id"], "correct_label": flip(prediction["label"])},
            headers=ANALYST,
        )
        assert flagged.status_code == 201, flagged.text
    job = call(
        "POST",
        "/admin/training-jobs",
        json={"family": "lstm", "params": TINY_LSTM_PARAMS},
        headers={"X-API-Key": ADMIN_KEY},
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]
    before = {
        "feedback": client.xlen(events.FEEDBACK_STREAM),
        "mispredictions": client.xlen(events.MISPREDICTIONS_STREAM),
        "training queue": client.llen(TRAINING_QUEUE),
    }
    assert before["mispredictions"] >= 3 and before["training queue"] >= 1

    faults.stop_redis()
    down = httpx.get(served.url + "/ready", timeout=30)
    assert down.status_code == 503
    assert down.json()["redis"] is False and any("redis" in p for p in down.json()["problems"]), down.text
    refused_predict = call("POST", "/predict", json={"text": "@united hello?"})
    assert refused_predict.status_code == 503 and refused_predict.headers["Retry-After"], refused_predict.text
    refused_flag = call(
        "POST",
        "/feedback",
        json={"prediction_id": predictions[0]["prediction_id"], "correct_label": "positive"},
        headers=ANALYST,
    )
    assert refused_flag.status_code == 503, refused_flag.text

    restarted_at = datetime.now().astimezone()
    faults.start_redis()
    back_at = time.monotonic()
    # Nobody is restarted: the worker's heartbeat, the gateway's clients and the alerting loop come back alone.
    wait_ready(served.url, timeout_s=60)
    wait_until(lambda: (alerting_seen_at(client) or restarted_at) > restarted_at, 60, "alerting reconnected")
    # The first calls may still meet a connection from before the restart: each is a 503 + Retry-After, and within
    # seconds the pools have reconnected by themselves.
    after_predict = call("POST", "/predict", json={"text": "@united back online"})
    deadline = time.monotonic() + 60
    while after_predict.status_code != 200 and time.monotonic() < deadline:
        assert after_predict.status_code == 503 and after_predict.headers["Retry-After"], after_predict.text
        time.sleep(0.5)
        after_predict = call("POST", "/predict", json={"text": "@united back online"})
    assert after_predict.status_code == 200, after_predict.text
    first_answer_s = time.monotonic() - back_at
    after_flag = call(
        "POST",
        "/feedback",
        json={"prediction_id": after_predict.json()["prediction_id"], "correct_label": "positive"},
        headers=ANALYST,
    )
    assert after_flag.status_code in (200, 201), after_flag.text

    job_after = call("GET", f"/admin/training-jobs/{job_id}", headers={"X-API-Key": ADMIN_KEY})
    assert job_after.status_code == 200 and job_after.json()["state"] == "queued", job_after.text
    assert client.xlen(events.FEEDBACK_STREAM) >= before["feedback"] + 1
    assert client.xlen(events.MISPREDICTIONS_STREAM) >= before["mispredictions"]
    assert client.llen(TRAINING_QUEUE) >= before["training queue"]
    for prediction in predictions:
        assert client.exists(redis_keys.feedback_by_prediction(prediction["prediction_id"]))
    lost = sent - answered - explicit
    record_fault(
        fault_table,
        "Redis restarted (SIGTERM, AOF) under gateway, worker, alerting",
        sent,
        answered,
        explicit,
        lost,
        f"kept: {before['feedback']} feedback, {before['mispredictions']} misprediction events, "
        f"{before['training queue']} queued training job(s); services reconnected without restart, "
        f"first prediction answered {first_answer_s:.1f} s after Redis was back",
    )
    assert lost == 0


WRITE_INTERVAL_S = 0.002
KILL_AFTER_S = 3.0
# appendfsync everysec: a SIGKILL of redis-server alone loses what was not yet written to the AOF (the OS keeps
# what was); a host crash could lose up to the last second's fsync. The bound is that second.
AOF_WINDOW_S = 1.0


def test_redis_sigkill_loses_at_most_the_aof_window(tmp_path, fault_table) -> None:
    """SIGKILL redis-server (AOF everysec) while a client appends acknowledged feedback events, restart it on the
    same data, and count which acknowledged writes are gone."""
    data_dir = tmp_path / "redis-kill"
    process, url = start_redis(data_dir, persistent=True)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    client = redis.Redis.from_url(url, socket_timeout=2)
    acknowledged: list[tuple[bytes, float]] = []
    started = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if now - started >= KILL_AFTER_S:
                process.kill(signal.SIGKILL)
                process.popen.wait(timeout=10)
                killed_at = time.monotonic()
                break
            entry_id = client.xadd(events.FEEDBACK_STREAM, {"n": str(len(acknowledged))})
            acknowledged.append((entry_id, time.monotonic()))
            time.sleep(WRITE_INTERVAL_S)
        with contextlib.suppress(redis.RedisError, OSError):
            client.xadd(events.FEEDBACK_STREAM, {"n": "after-kill"})
        process, _ = start_redis(data_dir, port=port, persistent=True)
        client = redis.Redis.from_url(url, socket_timeout=2)
        kept = {entry_id for entry_id, _ in client.xrange(events.FEEDBACK_STREAM)}
    finally:
        process.stop()
    lost = [(entry_id, at) for entry_id, at in acknowledged if entry_id not in kept]
    lost_window_s = killed_at - min(at for _, at in lost) if lost else 0.0
    rate = len(acknowledged) / KILL_AFTER_S
    record_fault(
        fault_table,
        "Redis SIGKILLed (AOF everysec) under a steady writer, restarted on its data",
        len(acknowledged),
        len(acknowledged) - len(lost),
        0,
        len(lost),
        f"{len(lost)} of {len(acknowledged)} acknowledged stream writes lost ({rate:.0f} writes/s), "
        f"spanning the last {lost_window_s:.2f} s before the kill; bound: {AOF_WINDOW_S:g} s of writes",
    )
    assert len(kept) >= 1, "nothing survived the restart: the AOF was not replayed"
    assert lost_window_s <= AOF_WINDOW_S + 0.1, f"lost writes span {lost_window_s:.2f} s before the kill"
    assert len(lost) <= rate * AOF_WINDOW_S, f"lost {len(lost)} writes, more than {AOF_WINDOW_S:g} s of them"
