"""`python -m inference_worker` as an operator runs it: a plain serving process with no Celery in it, a usage
message, a clear refusal of bad settings, and a clean stop on SIGTERM that takes its heartbeat away."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from local_stack.processes import PYTHON, start_redis, wait_until
from shared import redis_keys
from shared.schemas.calls import PredictCall, PredictReply
from tests.conftest import Stack, start_inference_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOBODY_LISTENS = "redis://127.0.0.1:9/0"


def run_worker_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "inference_worker", *args],
        env={**os.environ, "REDIS_URL": NOBODY_LISTENS, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def imported_modules(importtime_log: str) -> set[str]:
    """Module names from the `-X importtime` lines of a process's log (`import time: self | cumulative | name`)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


@pytest.fixture
def own_stack(stack: Stack, tiny_champion: dict, tmp_path: Path) -> Iterator[Stack]:
    """A private Redis (so that this worker alone reads its calls) over the shared registry and its champion."""
    redis_process, redis_url = start_redis(tmp_path / "redis")
    yield Stack(redis_url=redis_url, mlflow_url=stack.mlflow_url, log_dir=tmp_path / "logs")
    redis_process.stop()


def test_help_prints_the_usage_and_exits_without_connecting_anywhere() -> None:
    completed = run_worker_command("--help")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: python -m inference_worker [-h]\n")
    assert "inference:calls" in completed.stdout and "REDIS_URL" in completed.stdout

    unknown = run_worker_command("--queues", "inference")
    assert unknown.returncode == 2
    assert "unrecognized arguments: --queues inference" in unknown.stderr


def test_bad_settings_are_refused_by_name_without_a_traceback_or_the_value() -> None:
    completed = run_worker_command(CALL_CONSUMERS="not-a-number-s3cr3t")
    assert completed.returncode == 1
    assert completed.stderr.startswith("inference worker: invalid settings: CALL_CONSUMERS: ")
    assert "Traceback" not in completed.stderr and "s3cr3t" not in completed.stderr


def test_the_worker_serves_without_celery_and_stops_cleanly_on_sigterm(own_stack: Stack) -> None:
    # PYTHONPROFILEIMPORTTIME (= -X importtime) logs every module the process ever imports, lazy imports included.
    worker = start_inference_worker(own_stack, "plain-worker", PYTHONPROFILEIMPORTTIME="1")
    worker_id = f"{socket.gethostname()}:{worker.pid}"
    heartbeat = redis_keys.inference_worker_heartbeat(worker_id)
    client = redis.Redis.from_url(own_stack.redis_url)
    try:

        def serving() -> bool:
            raw = client.get(heartbeat)
            return raw is not None and json.loads(raw)["model_version"] is not None

        wait_until(serving, 180, "the worker's heartbeat with a loaded champion", worker, interval_s=0.5)

        # One real call answered, so that the model call's own imports are in the log too.
        channel = redis_keys.predict_reply_channel("test-" + uuid.uuid4().hex[:8])
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel)
        now = time.time()
        call = PredictCall(
            call_id=uuid.uuid4().hex,
            reply_to=channel,
            texts=["@united lovely crew"],
            request_ids=["plain-worker-0"],
            sent_at=now,
            deadline=now + 10,
        )
        client.xadd(redis_keys.PREDICT_CALLS_STREAM, {"call": call.model_dump_json()})
        message = None
        deadline = time.monotonic() + 10
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
        assert message is not None, worker.tail()
        (reply,) = [PredictReply.model_validate(r) for r in json.loads(message["data"])]
        assert reply.call_id == call.call_id and len(reply.predictions) == 1
        # Time-ordered (UUIDv7): the prediction log's primary key then grows at its right edge.
        assert uuid.UUID(reply.predictions[0].prediction_id).version == 7

        worker.kill(signal.SIGTERM)
        assert worker.popen.wait(timeout=20) == 0, worker.tail()
    finally:
        worker.stop()
    assert client.get(heartbeat) is None
    assert client.zscore(redis_keys.INFERENCE_WORKERS_INDEX, worker_id) is None

    log = worker.log_path.read_text(errors="replace")
    modules = imported_modules(log)
    assert {"inference_worker.runtime", "inference_worker.call_consumer"} <= modules  # the log is complete
    assert sorted(m for m in modules if m.split(".")[0] in ("celery", "kombu")) == []
    assert "inference worker stopped" in log
