"""The served model as `./scripts/run.sh` first trains it, trained in the test run: the bootstrap (a TF-IDF teacher,
then a distilled 64-unit BiLSTM) on the bundled corpus, registered in a private MLflow, read back with the
inference worker's data-only loader."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from local_stack.processes import PYTHON, ManagedProcess, start_mlflow, start_redis
from sentiment_model.lstm import LstmScorer, load_verified_lstm

SIGNING_KEY = "model-tests-signing-key"


@pytest.fixture(scope="session")
def model_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("model-tests")
    mlflow_process, mlflow_url = start_mlflow(root / "mlflow")
    redis_process, redis_url = start_redis(root / "redis", persistent=False)
    yield mlflow_url, redis_url
    for process in (mlflow_process, redis_process):
        process.stop()


def _bootstrap(mlflow_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_url,
        "REDIS_URL": redis_url,
        "MODEL_SIGNING_KEY": SIGNING_KEY,
        "HF_HUB_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    completed = subprocess.run(
        [PYTHON, "-m", "training_worker", "bootstrap"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def served_student(model_registry: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> LstmScorer:
    mlflow_url, redis_url = model_registry
    summary = _bootstrap(mlflow_url, redis_url)
    assert summary["promoted"], summary
    mlflow.set_tracking_uri(mlflow_url)
    try:
        folder = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/{summary['model_name']}/{summary['model_version']}",
                dst_path=str(tmp_path_factory.mktemp("student")),
            )
        )
    finally:
        mlflow.set_tracking_uri(None)
    scorer, _ = load_verified_lstm(folder, SIGNING_KEY)
    return scorer


__all__ = ["ManagedProcess"]
