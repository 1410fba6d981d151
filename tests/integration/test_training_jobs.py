"""Admins queue training jobs on the gateway; a real training worker runs them, logs to MLflow and registers them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
import redis
from mlflow import MlflowClient

from local_stack.processes import ManagedProcess, start_service, wait_until
from shared import events
from shared.schemas.events import ModelPromotedEvent
from tests.conftest import ADMIN_KEY, ANALYST_KEY, TINY_LSTM_PARAMS, Stack, start_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN = {"X-API-Key": ADMIN_KEY}
ANALYST = {"X-API-Key": ANALYST_KEY}
TINY_CLASSICAL = {"dataset": "bundled-airline", "max_rows": 300, "grid": "small", "cv_folds": 2}
TINY_BERT = {
    "dataset": "bundled-airline",
    "max_rows": 200,
    "num_layers": 2,
    "epochs": 1,
    "max_length": 32,
    "freeze_embeddings": True,
}
# The frozen encoder under a linear head learns something from 300 tweets; two fine-tuned layers on 200 do not.
TINY_BERT_FROZEN = {"dataset": "bundled", "max_rows": 300, "frozen_encoder": True, "max_length": 32}
TINY_BY_FAMILY = {"classical": TINY_CLASSICAL, "lstm": TINY_LSTM_PARAMS, "bert": TINY_BERT_FROZEN}
EVALUATION_PNGS = {"confusion_matrix.png", "roc_curve.png", "precision_recall_curve.png"}
MODEL_NAMES = {"classical": "air-paradis-classical", "lstm": "air-paradis-lstm", "bert": "air-paradis-bert"}
# Jobs finished by earlier tests of this module, reused to keep the module short.
FINISHED: dict[str, dict] = {}


class TrainingWorkers:
    """The training worker process of this module; the kill test replaces it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.started = 0
        self.process: ManagedProcess | None = None

    def start(self) -> ManagedProcess:
        self.started += 1
        # Short lease and sweep so that a killed worker's job is recovered within seconds in this test; a winning
        # LSTM takes `@champion` at once (no shadow stage), which is what these tests check.
        env = self.stack.env(JOB_LEASE_TTL_S="4", RECOVERY_INTERVAL_S="2", PROMOTION_MODE="direct")
        self.process = start_service(
            f"training-worker-{self.started}", ["training_worker", "worker"], env, self.stack.log_dir
        )
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout_s=20)


@pytest.fixture(scope="module")
def workers(stack: Stack, tiny_champion: dict) -> Iterator[TrainingWorkers]:
    # The session's tiny champion registers first, whatever order the tests run in: the jobs here add LSTM
    # versions that would otherwise out-score it and keep it from ever holding the alias the other suites serve.
    pool = TrainingWorkers(stack)
    pool.start()
    yield pool
    pool.stop()


def _post_job(gateway: str, family: str, params: dict) -> dict:
    response = httpx.post(gateway + "/admin/training-jobs", json={"family": family, "params": params}, headers=ADMIN)
    assert response.status_code == 202, response.text
    return response.json()


def _job(gateway: str, job_id: str) -> dict:
    response = httpx.get(f"{gateway}/admin/training-jobs/{job_id}", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_finished(gateway: str, job_id: str, workers: TrainingWorkers, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _job(gateway, job_id)
        if job["state"] in ("succeeded", "failed"):
            return job
        assert workers.process is not None and workers.process.alive(), (
            workers.process.tail() if workers.process else ""
        )
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not finished after {timeout_s} s: {job}\n{workers.process.tail(80)}")


def _version_count(client: MlflowClient, name: str) -> int:
    return len(client.search_model_versions(f"name = '{name}'"))


def _champion(client: MlflowClient, name: str) -> str | None:
    try:
        return client.get_model_version_by_alias(name, "champion").version
    except Exception:
        return None


def test_admin_routes_need_an_admin_key(gateway: str) -> None:
    body = {"family": "classical", "params": TINY_CLASSICAL}
    assert httpx.post(gateway + "/admin/training-jobs", json=body).status_code == 401
    assert httpx.post(gateway + "/admin/training-jobs", json=body, headers={"X-API-Key": "nope"}).status_code == 401
    assert httpx.post(gateway + "/admin/training-jobs", json=body, headers=ANALYST).status_code == 403
    assert httpx.get(gateway + "/admin/training-jobs", headers=ANALYST).status_code == 403
    assert httpx.get(gateway + "/admin/training-jobs/x", headers=ANALYST).status_code == 403
    assert httpx.get(gateway + "/admin/training-jobs/unknown-job", headers=ADMIN).status_code == 404
    assert httpx.get(gateway + "/models").status_code == 401


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"family": "xgboost", "params": {}}, "family"),
        ({"family": "lstm", "params": {"epochs": 0}}, "params.epochs"),
        ({"family": "classical", "params": {"models": ["xgboost"]}}, "params.models"),
        ({"family": "bert", "params": {"max_length": "long"}}, "params.max_length"),
        ({"family": "bert", "params": {"unknown_knob": 1}}, "params.unknown_knob"),
        ({"params": {}}, "family"),
    ],
)
def test_bad_family_or_params_is_refused_before_queueing(gateway: str, stack: Stack, body: dict, fragment: str) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    jobs_before = client.zcard("training:jobs")
    response = httpx.post(gateway + "/admin/training-jobs", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["message"]
    assert client.zcard("training:jobs") == jobs_before
    assert client.llen("training") == 0


@pytest.mark.parametrize("family", ["classical", "lstm", "bert"])
def test_a_job_of_each_family_is_trained_logged_and_registered(
    gateway: str, stack: Stack, workers: TrainingWorkers, family: str
) -> None:
    client = MlflowClient(stack.mlflow_url)
    name = MODEL_NAMES[family]
    champion_before = _champion(client, name)
    queued = _post_job(gateway, family, TINY_BY_FAMILY[family])
    assert queued["state"] == "queued" and queued["family"] == family
    job = _wait_finished(gateway, queued["job_id"], workers)
    assert job["state"] == "succeeded", job
    FINISHED[family] = job
    assert job["mlflow_run_id"] and job["model_name"] == name and job["model_version"]
    assert 0.0 <= job["metrics"]["test_precision"] <= 1.0 and "test_roc_auc" in job["metrics"]
    assert job["progress_total"] > 0 and job["progress_current"] == job["progress_total"]

    plots = {Path(a.path).name for a in client.list_artifacts(job["mlflow_run_id"], "plots")}
    assert plots >= EVALUATION_PNGS
    if family == "lstm":
        assert "training_curves.png" in plots
    assert client.list_artifacts(job["mlflow_run_id"], "reports")
    version = client.get_model_version(name, job["model_version"])
    assert version.tags["family"] == family
    expected_embedding = {"classical": ("bow", "tfidf"), "lstm": ("word2vec",), "bert": ("bert-frozen",)}[family]
    assert version.tags["embedding_type"] in expected_embedding
    assert version.tags["split_hash"]
    # The champion moves to this version exactly when the job says it was promoted.
    assert _champion(client, name) == (job["model_version"] if job["promoted"] else champion_before)
    if champion_before is None:
        assert job["promoted"]

    listed = httpx.get(gateway + "/admin/training-jobs", headers=ADMIN).json()
    assert queued["job_id"] in [j["job_id"] for j in listed]


def test_a_fine_tuned_bert_job_is_trained_and_judged_by_the_same_rule(
    gateway: str, stack: Stack, workers: TrainingWorkers
) -> None:
    client = MlflowClient(stack.mlflow_url)
    champion_before = _champion(client, MODEL_NAMES["bert"])
    job = _wait_finished(gateway, _post_job(gateway, "bert", TINY_BERT)["job_id"], workers)
    assert job["state"] == "succeeded", job
    plots = {Path(a.path).name for a in client.list_artifacts(job["mlflow_run_id"], "plots")}
    assert "training_curves.png" in plots and plots >= EVALUATION_PNGS
    assert client.get_model_version(MODEL_NAMES["bert"], job["model_version"]).tags["embedding_type"] == "bert"
    # Two layers on 200 tweets may well be refused: whatever the decision, it is recorded and the alias follows it.
    assert job["promotion"]["reason"].startswith("promoted" if job["promoted"] else ("refused", "not promoted"))
    assert _champion(client, MODEL_NAMES["bert"]) == (job["model_version"] if job["promoted"] else champion_before)


def _figures(metrics: dict, **changes: float) -> dict:
    return {**metrics, **{f"test_{name}": value for name, value in changes.items()}}


def test_champion_changes_only_when_the_kpi_improves_and_never_for_a_degenerate_model(
    gateway: str, stack: Stack, workers: TrainingWorkers
) -> None:
    from tests.conftest import MODEL_SIGNING_KEY
    from training_worker.datasets import load_dataset
    from training_worker.promotion import champion_figures, promote_if_better
    from training_worker.splits import make_split

    client = MlflowClient(stack.mlflow_url)
    name = MODEL_NAMES["classical"]
    first = FINISHED.get("classical") or _wait_finished(
        gateway, _post_job(gateway, "classical", TINY_CLASSICAL)["job_id"], workers
    )
    champion = _champion(client, name)
    # Same data, seed and grid: the same figures, which is no improvement.
    again = _wait_finished(gateway, _post_job(gateway, "classical", TINY_CLASSICAL)["job_id"], workers)
    assert again["state"] == "succeeded" and again["promoted"] is False
    assert "does not beat" in again["promotion"]["reason"]
    assert again["metrics"]["test_precision"] == pytest.approx(first["metrics"]["test_precision"])
    assert _champion(client, name) == champion

    split = make_split(load_dataset("bundled-airline", 300), 42)
    redis_client = redis.Redis.from_url(stack.redis_url)
    last_event = redis_client.xrevrange(events.MODEL_PROMOTED_STREAM, count=1)
    # A stricter target than the one the champion was tuned for: its figures are re-scored on this split.
    target = 0.6
    mlflow.set_tracking_uri(stack.mlflow_url)
    champion_kpi = champion_figures(name, champion, split, MODEL_SIGNING_KEY, target).recall_at_target
    assert champion_kpi < 1.0

    def promote(metrics: dict) -> bool:
        mlflow.set_tracking_uri(stack.mlflow_url)
        decision = promote_if_better(
            client, redis_client, "classical", name, again["model_version"], metrics, split, MODEL_SIGNING_KEY, target
        )
        return decision.promoted

    # Perfect precision but hardly ever "positive": refused, whatever it would gain on recall at the target.
    timid = _figures(again["metrics"], precision=1.0, recall=0.05, recall_at_target_precision=1.0)
    assert not promote(timid)
    # Recall-rich but its own threshold misses the target by more than the allowed shortfall: refused.
    loose = _figures(again["metrics"], precision=target - 0.05, recall=0.9, recall_at_target_precision=1.0)
    assert not promote(loose)
    sound = {"precision": target + 0.05, "recall": 0.8}
    assert not promote(_figures(again["metrics"], **sound, recall_at_target_precision=champion_kpi))
    assert _champion(client, name) == champion
    better = _figures(again["metrics"], **sound, recall_at_target_precision=champion_kpi + 0.01)
    assert promote(better)
    assert _champion(client, name) == again["model_version"]
    entry_id, fields = redis_client.xrevrange(events.MODEL_PROMOTED_STREAM, count=1)[0]
    assert not last_event or entry_id != last_event[0][0]
    event = events.decode(fields, ModelPromotedEvent)
    assert (event.model_name, event.model_version, event.previous_version) == (name, again["model_version"], champion)


def test_a_failing_job_ends_failed_with_its_reason_and_registers_nothing(
    gateway: str, stack: Stack, workers: TrainingWorkers
) -> None:
    client = MlflowClient(stack.mlflow_url)
    before = _version_count(client, MODEL_NAMES["classical"])
    # A path the gateway accepts (inside DATA_DIR) that names no file on the training worker.
    queued = _post_job(gateway, "classical", {**TINY_CLASSICAL, "dataset": "missing/tweets.csv"})
    job = _wait_finished(gateway, queued["job_id"], workers)
    assert job["state"] == "failed"
    assert "no such file" in job["error"] and "missing/tweets.csv" in job["error"]
    assert job["model_version"] is None
    assert _version_count(client, MODEL_NAMES["classical"]) == before


def test_a_job_whose_worker_is_killed_is_requeued_not_left_running(
    gateway: str, stack: Stack, workers: TrainingWorkers
) -> None:
    queued = _post_job(gateway, "classical", {**TINY_CLASSICAL, "max_rows": 600})
    wait_until(lambda: _job(gateway, queued["job_id"])["state"] == "running", 120, "job running", workers.process)
    workers.process.kill()  # SIGKILL to the whole process group: no chance to clean up
    workers.process.popen.wait(timeout=10)
    assert _job(gateway, queued["job_id"])["state"] == "running"
    workers.start()
    job = _wait_finished(gateway, queued["job_id"], workers)
    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2


def test_models_lists_versions_with_champions_and_the_serving_one(gateway: str, stack: Stack) -> None:
    response = httpx.get(gateway + "/models", headers=ANALYST, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    families = {v["family"] for v in body["versions"]}
    assert {"classical", "lstm", "bert"} <= families
    for version in body["versions"]:
        assert version["is_champion"] == ("champion" in version["aliases"])
        assert "test_precision" in version["metrics"] and version["tags"]["family"] == version["family"]
    serving = [v for v in body["versions"] if v["serving"]]
    assert len(serving) == 1 and serving[0]["family"] == "lstm"
    assert body["serving_version"] == serving[0]["version"] == body["champions"]["lstm"]


def test_models_answers_503_when_the_registry_is_down(stack: Stack) -> None:
    from local_stack.processes import free_port

    process, url = start_gateway(
        stack, name="gateway-no-registry", MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}"
    )
    try:
        started = time.monotonic()
        response = httpx.get(url + "/models", headers=ADMIN, timeout=60)
        assert response.status_code == 503, response.text
        assert "registry" in response.json()["detail"]
        assert time.monotonic() - started < 30
    finally:
        process.stop()


def test_job_records_are_json_in_redis(stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    ids = client.zrevrange("training:jobs", 0, -1)
    assert ids
    for job_id in ids:
        assert json.loads(client.get(f"training:job:{job_id.decode()}"))["job_id"] == job_id.decode()
