"""The log writer against a real Redis and a real SQLite file: batches committed then deleted from the stream,
a dead writer's pending entries claimed, unreadable entries dropped with a log line, verdicts applied."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from local_stack.processes import ManagedProcess, start_service, wait_until
from log_writer.settings import LogWriterSettings
from log_writer.writer import GROUP, STREAM, LogWriter
from shared.prediction_log import PredictionLog
from shared.schemas.prediction_log import FeedbackLogEntry, LoggedPredictionIn
from tests.priorities import autogroup_nice, thread_nice_values

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_server: tuple[ManagedProcess, str]) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server[1])
    connection.delete(STREAM)  # the log stream of this test only (other tests' workers also append to it)
    yield connection
    connection.delete(STREAM)
    connection.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PredictionLog]:
    log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")
    log.upgrade()
    yield log
    log.close()


def settings(**overrides: object) -> LogWriterSettings:
    return LogWriterSettings(log_batch_entries=10, log_read_block_ms=50, log_claim_after_s=0.2, **overrides)


def predictions_entry(ids: list[str]) -> dict[str, str]:
    rows = [
        {
            "prediction_id": prediction_id,
            "text": f"@JetBlue tweet {prediction_id}",
            "label": "positive",
            "probability_positive": 0.7,
            "threshold": 0.5,
            "model_name": "air-paradis-lstm",
            "model_version": "4",
            "request_id": "req-1",
            "caller": "alice",
            "created_at": 1_764_000_000.5,
        }
        for prediction_id in ids
    ]
    return {"predictions": json.dumps(rows)}


def test_batches_are_committed_then_deleted_from_the_stream(client: redis.Redis, store: PredictionLog) -> None:
    ids = [uuid.uuid4().hex for _ in range(45)]
    for start in range(0, 45, 3):
        client.xadd(STREAM, predictions_entry(ids[start : start + 3]))
    writer = LogWriter(client, store, settings(), name="writer-a")
    writer.ensure_group()
    assert writer.lag().entries == 15
    while writer.step():
        pass
    assert store.count() == 45 and writer.committed_predictions == 45
    assert client.xlen(STREAM) == 0 and client.xpending(STREAM, GROUP)["pending"] == 0
    row = store.get(ids[0])
    assert row is not None and (row.airline, row.caller, row.model_version) == ("jetblue", "alice", "4")
    assert row.created_at == datetime.fromtimestamp(1_764_000_000.5, UTC)


def test_entries_a_dead_writer_held_are_claimed_and_written_once(client: redis.Redis, store: PredictionLog) -> None:
    ids = [uuid.uuid4().hex for _ in range(12)]
    for start in range(0, 12, 4):
        client.xadd(STREAM, predictions_entry(ids[start : start + 4]))
    dead = LogWriter(client, store, settings(), name="writer-dead")
    dead.ensure_group()
    # The dead writer committed its first entry's rows to the database, but died before acknowledging anything.
    read = client.xreadgroup(GROUP, "writer-dead", {STREAM: ">"}, count=10)
    assert len(read[0][1]) == 3
    store.insert_many([LoggedPredictionIn.model_validate(r) for r in json.loads(read[0][1][0][1][b"predictions"])])

    live = LogWriter(client, store, settings(), name="writer-live")
    time.sleep(0.3)  # past LOG_CLAIM_AFTER_S
    assert live.step() == 3
    assert store.count() == 12 and live.committed_predictions == 8  # the 4 committed before the crash were skipped
    assert client.xlen(STREAM) == 0 and client.xpending(STREAM, GROUP)["pending"] == 0


def test_unreadable_and_trimmed_entries_are_dropped_not_retried(
    client: redis.Redis, store: PredictionLog, caplog: pytest.LogCaptureFixture
) -> None:
    good = uuid.uuid4().hex
    client.xadd(STREAM, {"predictions": "not json"})
    client.xadd(STREAM, {"something": "else"})
    client.xadd(STREAM, predictions_entry([good]))
    writer = LogWriter(client, store, settings(), name="writer-b")
    writer.ensure_group()
    with caplog.at_level("ERROR"):
        assert writer.step() == 3
    assert store.count() == 1 and store.get(good) is not None
    assert sum("unreadable log entry dropped" in r.getMessage() for r in caplog.records) == 2
    assert client.xlen(STREAM) == 0


def test_a_verdict_on_the_stream_updates_its_row(client: redis.Redis, store: PredictionLog) -> None:
    prediction_id = uuid.uuid4().hex
    client.xadd(STREAM, predictions_entry([prediction_id]))
    snapshot = LoggedPredictionIn.model_validate(json.loads(predictions_entry([prediction_id])["predictions"])[0])
    verdict = FeedbackLogEntry(prediction=snapshot, correct_label="negative", analyst="bob", at=datetime.now(UTC))
    client.xadd(STREAM, {"feedback": verdict.model_dump_json()})
    client.xadd(STREAM, {"feedback": verdict.model_dump_json()})  # a redelivery
    writer = LogWriter(client, store, settings(), name="writer-c")
    writer.ensure_group()
    assert writer.step() == 3
    row = store.get(prediction_id)
    assert row is not None and (row.feedback_label, row.feedback_by, row.is_misprediction) == ("negative", "bob", True)
    assert writer.committed_verdicts == 2 and store.count() == 1


def test_retention_deletes_old_rows_and_exports_them(client: redis.Redis, store: PredictionLog, tmp_path: Path) -> None:
    client.xadd(STREAM, predictions_entry(["old-one"]))  # created in 2025: far past 30 days
    writer = LogWriter(
        client, store, settings(prediction_log_retention_days=30, prediction_log_export_dir=tmp_path), name="w"
    )
    writer.ensure_group()
    writer.step()
    assert writer.apply_retention() == 1 and store.count() == 0
    (exported,) = tmp_path.glob("predictions-before-*.csv")
    assert "old-one" in exported.read_text()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads thread priorities from Linux's /proc")
def test_the_writer_process_runs_below_the_request_path(
    redis_server: tuple[ManagedProcess, str], tmp_path: Path
) -> None:
    """Every thread of `python -m log_writer` runs at LOG_WRITER_NICE, and so does the session it leads (as
    ./scripts/run.sh starts it): under autogroup scheduling the CPU is shared between sessions before processes."""
    env = {"REDIS_URL": redis_server[1], "PREDICTION_LOG_URL": f"sqlite:///{tmp_path / 'log.db'}"}
    process = start_service("log-writer-priority", ["log_writer"], env, tmp_path)
    try:
        wait_until(lambda: "log writer starting" in process.log_path.read_text(), 60, "log writer", process)
        assert thread_nice_values(process.pid) == {10}
        assert autogroup_nice(process.pid) in (10, None)
        assert "nice=10" in process.log_path.read_text()
    finally:
        process.stop()
