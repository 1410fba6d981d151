"""The loop on real processes: three flags fire a report, the report queues a job, the job trains a challenger, the
challenger is shadow-scored on live traffic while the champion answers, the gate promotes it, a rollback undoes it,
and the history shows each step; a second challenger, worse on the labelled live predictions, is retired.

Its own Redis (so the session's workers never answer these calls) and model name, the session's MLflow. The first
champion is the session's tiny word2vec LSTM, registered again under this test's name; the challengers are tiny
GloVe LSTMs, which beat it at this stack's target precision (it was tuned for another target, so it is re-scored).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from mlflow import MlflowClient

from local_stack.processes import ManagedProcess, start_redis, start_service, wait_until
from shared import model_lifecycle
from shared.jobs import JobStore
from shared.prediction_log.store import PredictionLog
from shared.schemas.lifecycle import Actor
from tests.conftest import (
    ADMIN_KEY,
    ANALYST_KEY,
    TINY_LSTM_PARAMS,
    SmtpSink,
    Stack,
    alerting_env,
    start_gateway,
    start_inference_worker,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL_NAME = "shadow-loop-lstm"
ADMIN = {"X-API-Key": ADMIN_KEY}
ANALYST = {"X-API-Key": ANALYST_KEY}
CHALLENGER_PARAMS = {**TINY_LSTM_PARAMS, "embedding": "glove"}
GATE_MIN_SHADOW_S = 25
STREAMS = 3
TWEETS = [
    "@united thank you, the crew was wonderful",
    "@united lost my bag again, worst airline ever",
    "@united flight delayed three hours and no one tells us anything",
    "@united great service at the gate today",
    "@united the seat was broken and the staff did not care",
    "@united smooth landing, friendly pilots, love it",
    "@united cancelled my flight and put me on hold for an hour",
    "@united the upgrade made my week, thanks",
    "@united rude agent at the counter",
    "@united on time and comfortable, well done",
]


@dataclass
class Loop:
    url: str
    redis: redis.Redis
    client: MlflowClient
    first_champion: str
    smtp: SmtpSink


@pytest.fixture(scope="module")
def loop(stack: Stack, tiny_champion: dict, services_dir: Path) -> Iterator[Loop]:
    redis_process, redis_url = start_redis(services_dir / "shadow-redis")
    started: list[ManagedProcess] = [redis_process]
    smtp = SmtpSink().start()
    try:
        client = MlflowClient(stack.mlflow_url)
        redis_client = redis.Redis.from_url(redis_url)
        source = client.get_model_version(tiny_champion["model_name"], tiny_champion["model_version"])
        client.create_registered_model(MODEL_NAME)
        copy = client.create_model_version(MODEL_NAME, source.source, run_id=source.run_id, tags=source.tags)
        first = str(copy.version)
        setup = Actor(kind="person", name="test-setup")
        model_lifecycle.promote(client, redis_client, MODEL_NAME, first, setup, "first champion")

        log_url = f"sqlite:///{services_dir / 'shadow-prediction-log.db'}"
        prediction_log = PredictionLog(log_url)
        prediction_log.upgrade()
        prediction_log.close()
        local = Stack(redis_url=redis_url, mlflow_url=stack.mlflow_url, log_dir=stack.log_dir)
        common = {"LSTM_MODEL_NAME": MODEL_NAME, "PREDICTION_LOG_URL": log_url, "ALIAS_POLL_INTERVAL_S": "1"}
        # Every call shadow-scored, none skipped: the counts below are exact.
        shadow = {"SHADOW_SAMPLE_SHARE": "1", "SHADOW_QUEUE_MAX_CALLS": "256", "SHADOW_CPU_SHARE": "2"}
        started.append(start_inference_worker(local, "shadow-worker", HEARTBEAT_INTERVAL_S="0.5", **shadow, **common))
        gateway, url = start_gateway(
            local,
            "shadow-gateway",
            PREDICT_RATE_LIMIT_PER_MINUTE="0",
            FEEDBACK_RATE_LIMIT_PER_MINUTE="0",
            GATE_MIN_SHADOW_CALLS="20",
            GATE_MIN_SHADOW_S=str(GATE_MIN_SHADOW_S),
            **common,
        )
        started.append(gateway)
        gate = {
            "TARGET_PRECISION": "0.5",
            "PROMOTION_MODE": "shadow",
            "PROMOTION_GATE": "auto",
            "GATE_MIN_SHADOW_CALLS": "20",
            "GATE_MIN_SHADOW_S": str(GATE_MIN_SHADOW_S),
            "GATE_MAX_P99_MS": "2000",
            "GATE_INTERVAL_S": "1",
        }
        started.append(
            start_service("shadow-training", ["training_worker", "worker"], local.env(**gate, **common), stack.log_dir)
        )
        alerting = alerting_env(
            redis_url,
            smtp.port,
            CONSUMER_NAME="shadow-alerting",
            GATEWAY_URL=url,
            RETRAINING_POLICY="on",
            RETRAINING_MIN_INTERVAL_H="1",
            RETRAINING_MIN_NEW_CORRECTIONS="3",
            RETRAINING_PARAMS=json.dumps(CHALLENGER_PARAMS),
            LSTM_MODEL_NAME=MODEL_NAME,
            PREDICTION_LOG_URL=log_url,
        )
        started.append(start_service("shadow-alerting", ["alerting"], alerting, stack.log_dir))
        assert wait_ready(url)["model_version"] == first
        yield Loop(url, redis_client, client, first, smtp)
    finally:
        smtp.stop()
        for process in reversed(started):
            process.stop()


def _predict(url: str, text: str) -> dict:
    response = httpx.post(url + "/predict", json={"text": text}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _feedback(url: str, prediction_id: str, label: str) -> None:
    response = httpx.post(
        url + "/feedback", json={"prediction_id": prediction_id, "correct_label": label}, headers=ANALYST, timeout=10
    )
    assert response.status_code in (200, 201), response.text


def _challenger(url: str) -> dict:
    response = httpx.get(url + "/models/challenger", headers=ANALYST, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _history(url: str) -> list[dict]:
    response = httpx.get(f"{url}/models/{MODEL_NAME}/history", headers=ANALYST, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["events"]


def _wait_job(loop: Loop, job_id: str) -> dict:
    def finished() -> bool:
        job = JobStore(loop.redis).get(job_id)
        return job is not None and job.state.value in ("succeeded", "failed", "cancelled")

    wait_until(finished, 600, f"training job {job_id}", interval_s=1)
    job = httpx.get(f"{loop.url}/admin/training-jobs/{job_id}", headers=ADMIN, timeout=10).json()
    assert job["state"] == "succeeded", job
    return job


class Streams:
    """Clients that predict continuously and keep every answer's status, version and prediction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[list[tuple[int, str | None, dict]]] = [[] for _ in range(STREAMS)]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(a,)) for a in self.answers]

    def _run(self, answers: list) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for i in itertools.count():
                if self._stop.is_set():
                    return
                response = http.post("/predict", json={"text": TWEETS[i % len(TWEETS)]})
                body = response.json() if response.status_code == 200 else {}
                answers.append((response.status_code, body.get("model_version"), body))

    def __enter__(self) -> Streams:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def latest_versions(self) -> set[str | None]:
        return {answers[-1][1] for answers in self.answers if answers}

    def assert_one_switch(self, old: str, new: str) -> None:
        for answers in self.answers:
            assert {status for status, _, _ in answers} == {200}, "a request failed during the switch"
            versions = [version for _, version, _ in answers]
            assert versions[0] == old and versions[-1] == new, versions
            switches = sum(1 for a, b in itertools.pairwise(versions) if a != b)
            assert switches == 1, f"versions went {versions}"


def _flag_three(loop: Loop) -> None:
    for text in TWEETS[:3]:
        answer = _predict(loop.url, text)
        _feedback(loop.url, answer["prediction_id"], "negative" if answer["label"] == "positive" else "positive")


def test_three_flags_lead_to_a_shadow_scored_challenger_that_the_gate_promotes_and_a_rollback_undoes(
    loop: Loop,
) -> None:
    champion = loop.first_champion
    _flag_three(loop)
    [report] = loop.smtp.wait_for(1, timeout_s=60)
    report_id = report["X-Air-Paradis-Report-Id"]

    def job_of_report() -> str | None:
        jobs = [j for j in JobStore(loop.redis).list(100) if j.triggered_by and j.triggered_by.report_id == report_id]
        return jobs[0].job_id if jobs else None

    wait_until(lambda: job_of_report() is not None, 30, "the report's training job")
    job = _wait_job(loop, job_of_report())
    assert job["promoted"] is False and job["promotion"]["challenger"] is True, job["promotion"]
    challenger = job["model_version"]
    wait_until(lambda: _challenger(loop.url)["challenger_version"] == challenger, 30, "challenger visible")

    with Streams(loop.url) as streams:
        # Shadow-scored on live traffic while every answer still comes from the champion.
        wait_until(lambda: (_challenger(loop.url)["figures"] or {}).get("shadow_calls", 0) >= 5, 60, "shadow scoring")
        status = _challenger(loop.url)
        assert streams.latest_versions() == {champion}
        figures = status["figures"]
        assert status["champion_version"] == champion and status["verdict"]["action"] == "wait"
        assert figures["agreement"] is not None and figures["since"]
        for model in ("champion", "challenger"):
            assert figures[model]["latency_p50_ms"] > 0 and figures[model]["latency_p99_ms"] > 0
        # An analyst labels some of these predictions: both models' live precision and recall are counted.
        labelled = [answers[-1][2] for answers in streams.answers]

        def labels_counted() -> bool:
            # Sent again until counted: a label given before the shadow record landed counts on the repeat.
            for body in labelled:
                _feedback(loop.url, body["prediction_id"], "negative")
            return _challenger(loop.url)["figures"]["challenger"]["labelled"] == len(labelled)

        wait_until(labels_counted, 30, "labels counted", interval_s=0.5)
        live = _challenger(loop.url)["figures"]["champion"]
        assert live["true_negatives"] + live["false_positives"] == len(labelled)
        assert live["true_positives"] == live["false_negatives"] == 0 and live["recall"] is None

        # The gate promotes it once its minimum time and calls are behind it.
        wait_until(lambda: streams.latest_versions() == {challenger}, 120, "answers from the promoted challenger")
        count = sum(len(answers) for answers in streams.answers)
        wait_until(lambda: sum(len(a) for a in streams.answers) > count + 3 * STREAMS, 30, "answers after it")
    streams.assert_one_switch(champion, challenger)
    assert _challenger(loop.url)["challenger_version"] is None

    with Streams(loop.url) as streams:
        wait_until(lambda: all(len(a) >= 5 for a in streams.answers), 30, "streams warmed up")
        rollback = httpx.post(f"{loop.url}/admin/models/{MODEL_NAME}/rollback", headers=ADMIN, timeout=30)
        assert rollback.status_code == 200, rollback.text
        assert (rollback.json()["from_version"], rollback.json()["to_version"]) == (challenger, champion)
        wait_until(lambda: streams.latest_versions() == {champion}, 60, "answers from the rolled-back champion")
        count = sum(len(answers) for answers in streams.answers)
        wait_until(lambda: sum(len(a) for a in streams.answers) > count + 3 * STREAMS, 30, "answers after it")
    streams.assert_one_switch(challenger, champion)

    rollback_event, promotion, challenge, first = _history(loop.url)[:4]
    assert (rollback_event["action"], rollback_event["from_version"], rollback_event["to_version"]) == (
        "rollback",
        challenger,
        champion,
    )
    assert rollback_event["actor"] == {"kind": "person", "name": "admin"}
    assert (promotion["action"], promotion["from_version"], promotion["to_version"]) == (
        "promotion",
        champion,
        challenger,
    )
    assert promotion["actor"] == {"kind": "policy", "name": "shadow promotion gate"}
    assert promotion["reason"].startswith("gate passed") and promotion["figures"]["shadow"]["shadow_calls"] >= 20
    assert promotion["figures"]["shadow"]["challenger"]["labelled"] == len(labelled)
    assert (challenge["action"], challenge["to_version"]) == ("challenge", challenger)
    assert challenge["actor"] == {"kind": "alert", "name": f"report {report_id}"}
    assert challenge["figures"]["offline"]["job_id"] == job["job_id"]
    assert (first["action"], first["to_version"]) == ("promotion", champion)


def test_a_challenger_worse_on_labelled_live_predictions_is_retired_with_the_reason(loop: Loop) -> None:
    champion = httpx.get(loop.url + "/ready", timeout=5).json()["model_version"]
    queued = httpx.post(
        loop.url + "/admin/training-jobs", json={"family": "lstm", "params": CHALLENGER_PARAMS}, headers=ADMIN
    )
    assert queued.status_code == 202, queued.text
    job = _wait_job(loop, queued.json()["job_id"])
    assert job["promotion"]["challenger"] is True, job["promotion"]
    challenger = job["model_version"]
    wait_until(lambda: _challenger(loop.url)["challenger_version"] == challenger, 30, "challenger visible")

    # Analysts confirm what the champion answered: wherever the challenger disagrees, it is wrong.
    answers = [_predict(loop.url, text) for text in TWEETS * 3]
    assert {answer["model_version"] for answer in answers} == {champion}
    wait_until(
        lambda: (_challenger(loop.url)["figures"] or {}).get("shadow_tweets", 0) >= len(answers), 30, "all shadowed"
    )
    figures = _challenger(loop.url)["figures"]
    assert figures["agreement"] < 1.0, "the challenger agrees on every tweet: nothing to tell them apart"
    for answer in answers:
        _feedback(loop.url, answer["prediction_id"], answer["label"])

    wait_until(lambda: _challenger(loop.url)["challenger_version"] is None, 120, "the gate's decision")
    retirement = _history(loop.url)[0]
    assert (retirement["action"], retirement["from_version"]) == ("retirement", challenger)
    assert retirement["actor"] == {"kind": "policy", "name": "shadow promotion gate"}
    assert retirement["reason"].startswith(("live precision", "live recall")), retirement["reason"]
    live = retirement["figures"]["shadow"]
    # The gate judges as soon as its minimum time is up, on the labels counted by then.
    assert 0 < live["champion"]["labelled"] == live["challenger"]["labelled"] <= len(answers)
    assert (live["champion"]["precision"], live["champion"]["recall"]) == (1.0, 1.0)
    assert loop.client.get_model_version(MODEL_NAME, challenger).tags["retired"] == retirement["reason"]
    assert httpx.get(loop.url + "/ready", timeout=5).json()["model_version"] == champion
