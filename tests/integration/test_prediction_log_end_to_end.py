"""Tweets posted through a real gateway and inference worker reach the prediction log through a real log writer;
an analyst with a name-bearing key flags one from the uncertainty queue and the flag shows in the log, the
misprediction event and the trend; a log writer SIGKILLed mid-batch loses and duplicates nothing."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
import redis

from local_stack.processes import ManagedProcess, start_service, wait_until
from shared import redis_keys
from shared.events import MISPREDICTIONS_STREAM
from shared.prediction_log import PredictionLog
from shared.schemas.prediction_log import PredictionFilters
from tests.conftest import ADMIN_KEY, ANALYST_KEY, Stack, start_gateway, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALICE_KEY = "alice-analyst-key-for-tests"
ALICE = {"X-API-Key": ALICE_KEY}
ANALYST = {"X-API-Key": ANALYST_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}


@dataclass
class LogStack:
    gateway_url: str
    database_url: str
    redis: redis.Redis
    writer_env: dict[str, str]
    log_dir: Path
    writer: ManagedProcess

    def start_writer(self, name: str) -> ManagedProcess:
        process = start_service(name, ["log_writer"], self.writer_env, self.log_dir)
        wait_until(lambda: "log writer starting" in process.log_path.read_text(), 60, "log writer", process)
        self.writer = process
        return process

    def store(self) -> PredictionLog:
        return PredictionLog(self.database_url)


@pytest.fixture(scope="module")
def log_stack(
    stack: Stack, inference_worker: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LogStack]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('prediction-log') / 'log.db'}"
    client = redis.Redis.from_url(stack.redis_url)
    # Only this module's writer reads the log stream: start it empty, so that earlier tests' entries do not count.
    client.delete(redis_keys.PREDICTION_LOG_STREAM)
    env = {"PREDICTION_LOG_URL": database_url}
    writer_env = stack.env(**env, LOG_CLAIM_AFTER_S="1", LOG_LAG_INTERVAL_S="1", LOG_BATCH_ENTRIES="20")
    keys = json.dumps([{"name": "alice", "role": "analyst", "key": ALICE_KEY}])
    gateway, url = start_gateway(stack, name="gateway-prediction-log", API_KEYS=keys, **env)
    wait_ready(url)
    setup = LogStack(url, database_url, client, writer_env, stack.log_dir, writer=None)  # type: ignore[arg-type]
    setup.start_writer("log-writer-0")
    yield setup
    setup.writer.stop()
    gateway.stop()
    client.delete(redis_keys.PREDICTION_LOG_STREAM)
    client.close()


def logged(setup: LogStack, marker: str, expected: int, timeout_s: float = 60, **params: str) -> list[dict]:
    """Every logged prediction whose text holds `marker`, once `expected` of them are there (all pages)."""
    found: list[dict] = []

    def complete() -> bool:
        found.clear()
        cursor = None
        while True:
            query = {"q": marker, "limit": "100", **params, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(setup.gateway_url + "/predictions", params=query, headers=ANALYST, timeout=10)
            assert page.status_code == 200, page.text
            body = page.json()
            found.extend(body["predictions"])
            cursor = body["next_cursor"]
            if cursor is None:
                return len(found) >= expected

    wait_until(complete, timeout_s, f"{expected} logged predictions holding {marker}")
    return list(found)


def sentiment_flagged(setup: LogStack, since: datetime, airline: str) -> int:
    answer = httpx.get(
        setup.gateway_url + "/stats/sentiment",
        params={"bucket": "hour", "from": since.isoformat(), "airline": airline},
        headers=ALICE,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return sum(bucket["flagged"] for bucket in answer.json()["buckets"])


def test_an_analyst_flags_from_the_uncertainty_queue_and_sees_it_everywhere(log_stack: LogStack) -> None:
    marker = "zq" + uuid.uuid4().hex[:8]
    since = datetime.now(UTC) - timedelta(hours=1)
    texts = [f"@united {marker} flight {i} was {'great' if i % 2 else 'awful, delayed again'}" for i in range(12)]
    batch = httpx.post(log_stack.gateway_url + "/predict/batch", json={"texts": texts}, headers=ALICE, timeout=30)
    assert batch.status_code == 200, batch.text
    anonymous = httpx.post(log_stack.gateway_url + "/predict", json={"text": f"Delta {marker} lost my bag"}, timeout=30)
    assert anonymous.status_code == 200, anonymous.text
    answered = {p["prediction_id"]: p for p in batch.json()["predictions"]}

    rows = logged(log_stack, marker, 13)
    by_id = {row["prediction_id"]: row for row in rows}
    assert set(answered) < set(by_id) and len(by_id) == 13
    for prediction_id, answer in answered.items():
        row = by_id[prediction_id]
        assert (row["caller"], row["airline"], row["label"]) == ("alice", "united", answer["label"])
        assert row["model_version"] == answer["model_version"] and row["threshold"] == answer["threshold"]
        assert row["feedback_label"] is None and row["request_id"]
    anonymous_row = by_id[anonymous.json()["prediction_id"]]
    assert (anonymous_row["caller"], anonymous_row["airline"]) == (None, "delta")

    queue = logged(log_stack, marker, 13, order="uncertainty")
    distances = [abs(row["probability_positive"] - row["threshold"]) for row in queue]
    assert distances == sorted(distances)
    first = queue[0]
    flagged_before = sentiment_flagged(log_stack, since, first["airline"])

    wrong = "negative" if first["label"] == "positive" else "positive"
    flag = httpx.post(
        log_stack.gateway_url + "/feedback",
        json={"prediction_id": first["prediction_id"], "correct_label": wrong},
        headers=ALICE,
        timeout=10,
    )
    assert flag.status_code == 201, flag.text
    assert flag.json()["analyst"] == "alice"

    (flagged_row,) = logged(log_stack, marker, 1, flagged="true")
    assert flagged_row["prediction_id"] == first["prediction_id"]
    assert (flagged_row["feedback_label"], flagged_row["feedback_by"], flagged_row["is_misprediction"]) == (
        wrong,
        "alice",
        True,
    )
    events = [json.loads(f[b"data"]) for _, f in log_stack.redis.xrevrange(MISPREDICTIONS_STREAM, count=200)]
    (event,) = [e for e in events if e["prediction_id"] == first["prediction_id"]]
    assert event["analyst"] == "alice" and event["correct_label"] == wrong
    assert sentiment_flagged(log_stack, since, first["airline"]) == flagged_before + 1

    # A confirmation is recorded too: a labelled example, not a misprediction.
    second = queue[1]
    confirm = httpx.post(
        log_stack.gateway_url + "/feedback",
        json={"prediction_id": second["prediction_id"], "correct_label": second["label"]},
        headers=ALICE,
        timeout=10,
    )
    assert confirm.status_code == 201, confirm.text

    # A prediction Redis no longer holds is found in the log.
    older = queue[2]
    assert log_stack.redis.delete(redis_keys.prediction(older["prediction_id"])) == 1
    late = httpx.post(
        log_stack.gateway_url + "/feedback",
        json={"prediction_id": older["prediction_id"], "correct_label": older["label"]},
        headers=ANALYST,
        timeout=10,
    )
    assert late.status_code == 201, late.text
    unknown = httpx.post(
        log_stack.gateway_url + "/feedback",
        json={"prediction_id": "never-made", "correct_label": "positive"},
        headers=ANALYST,
        timeout=10,
    )
    assert unknown.status_code == 404

    def verdicts_logged() -> bool:
        store = log_stack.store()
        try:
            confirmed, late_row = store.get(second["prediction_id"]), store.get(older["prediction_id"])
        finally:
            store.close()
        return (
            confirmed is not None
            and (confirmed.feedback_label, confirmed.feedback_by, confirmed.is_misprediction)
            == (second["label"], "alice", False)
            and late_row is not None
            and (late_row.feedback_by, late_row.is_misprediction) == ("analyst", False)
        )

    wait_until(verdicts_logged, 30, "the confirmation and the late verdict in the log")
    store = log_stack.store()
    try:
        examples = {e.prediction_id: e for e in store.feedback_rows(since=since)}
    finally:
        store.close()
    assert examples[first["prediction_id"]].is_misprediction and not examples[second["prediction_id"]].is_misprediction


def test_bad_parameters_and_roles_are_answered_clearly(log_stack: LogStack) -> None:
    base = log_stack.gateway_url
    assert httpx.get(base + "/predictions", headers=ANALYST, params={"order": "oldest"}).status_code == 422
    bad_cursor = httpx.get(base + "/predictions", headers=ANALYST, params={"cursor": "garbage"})
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.json()["detail"]
    reversed_range = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert httpx.get(base + "/predictions", headers=ANALYST, params=reversed_range).status_code == 422
    assert httpx.get(base + "/predictions", headers=ANALYST, params={"limit": "100000"}).status_code == 422
    assert httpx.get(base + "/predictions", params={}).status_code == 401
    assert httpx.get(base + "/stats/sentiment", headers=ANALYST, params={"bucket": "week"}).status_code == 422
    wide = httpx.get(
        base + "/stats/sentiment", headers=ANALYST, params={"bucket": "hour", "from": "2020-01-01T00:00:00Z"}
    )
    assert wide.status_code == 422 and "bucket=day" in wide.json()["message"]
    # Moments whose conversion to UTC, or a default span before them, would overflow the calendar.
    for edge in ({"to": "0001-01-01T00:00:00+01:00"}, {"from": "9999-12-31T23:59:59-01:00"}, {"to": "0001-01-01"}):
        for path in ("/stats/sentiment", "/predictions"):
            answer = httpx.get(base + path, headers=ANALYST, params=edge)
            assert answer.status_code == 422 and "between the years" in answer.text, (path, edge, answer.text)
    assert httpx.get(base + "/predictions/export", headers=ANALYST).status_code == 403
    assert httpx.get(base + "/predictions/export", headers=ADMIN, params={"format": "xlsx"}).status_code == 422


def test_export_streams_csv_and_parquet(log_stack: LogStack) -> None:
    marker = "zx" + uuid.uuid4().hex[:8]
    texts = [f"{marker} tweet {i} @SouthwestAir" for i in range(5)]
    assert httpx.post(log_stack.gateway_url + "/predict/batch", json={"texts": texts}, timeout=30).status_code == 200
    logged(log_stack, marker, 5)
    params = {"q": marker}
    as_csv = httpx.get(log_stack.gateway_url + "/predictions/export", headers=ADMIN, params=params, timeout=30)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.strip().splitlines()
    assert lines[0].startswith("prediction_id,text,label") and len(lines) == 6
    as_parquet = httpx.get(
        log_stack.gateway_url + "/predictions/export", headers=ADMIN, params={**params, "format": "parquet"}, timeout=30
    )
    assert as_parquet.status_code == 200
    table = pq.read_table(io.BytesIO(as_parquet.content))
    assert table.num_rows == 5 and set(table.column("airline").to_pylist()) == {"southwest"}


def test_a_log_writer_killed_mid_batch_loses_and_duplicates_nothing(log_stack: LogStack) -> None:
    marker = "zk" + uuid.uuid4().hex[:8]
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send(worker: int) -> None:
        with httpx.Client(base_url=log_stack.gateway_url, timeout=30) as client:
            sent = 0
            while not stop.is_set() and sent < 40:
                texts = [f"{marker} w{worker} n{sent} t{i} @united" for i in range(5)]
                answer = client.post("/predict/batch", json={"texts": texts})
                assert answer.status_code == 200, answer.text
                with lock:
                    answered.extend(p["prediction_id"] for p in answer.json()["predictions"])
                sent += 1

    senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in senders:
        thread.start()
    killed_holding = 0
    group = redis_keys.PREDICTION_LOG_GROUP
    stream = redis_keys.PREDICTION_LOG_STREAM
    deadline = time.monotonic() + 60
    # Kill the writer while it holds entries it read but has not acknowledged: in the middle of a batch. Another
    # connection holds the database's write lock meanwhile, so the writer's commit waits (a batch commits in
    # milliseconds otherwise, too fast to be caught reliably).
    database_lock = sqlite3.connect(log_stack.database_url.removeprefix("sqlite:///"), timeout=30)
    database_lock.execute("BEGIN IMMEDIATE")
    try:
        attempt = 0
        while time.monotonic() < deadline and not killed_holding:
            for consumer in log_stack.redis.xinfo_consumers(stream, group):
                if consumer["pending"] > 0 and str(log_stack.writer.pid) in consumer["name"].decode():
                    log_stack.writer.kill()
                    log_stack.writer.popen.wait(timeout=10)
                    killed_holding = next(
                        c["pending"]
                        for c in log_stack.redis.xinfo_consumers(stream, group)
                        if c["name"] == consumer["name"]
                    )
                    if not killed_holding:  # it acknowledged its batch between the look and the kill: try again
                        attempt += 1
                        log_stack.start_writer(f"log-writer-retry-{attempt}")
                    break
    finally:
        database_lock.rollback()
        database_lock.close()
    assert killed_holding > 0, "the writer was never caught holding unacknowledged entries"
    time.sleep(1.0)  # answers keep coming while no writer runs
    log_stack.start_writer("log-writer-1")
    for thread in senders:
        thread.join(timeout=120)
    stop.set()
    assert len(answered) == 4 * 40 * 5

    def all_logged() -> bool:
        store = log_stack.store()
        try:
            rows = list(store.iter_export(PredictionFilters(text_contains=marker)))
        finally:
            store.close()
        return len(rows) >= len(answered)

    wait_until(all_logged, 90, "every answered prediction in the log", interval_s=0.5)
    store = log_stack.store()
    try:
        rows = list(store.iter_export(PredictionFilters(text_contains=marker)))
    finally:
        store.close()
    ids = [row.prediction_id for row in rows]
    assert len(ids) == len(set(ids)) == len(answered) and set(ids) == set(answered)
    assert "claimed log entries left by a dead writer" in log_stack.writer.log_path.read_text()
    wait_until(lambda: log_stack.redis.xpending(stream, group)["pending"] == 0, 30, "nothing left pending")
