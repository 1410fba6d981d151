"""`python -m training_worker bootstrap` on a registry whose champion inference workers would refuse (an unsigned
version: an old registry, or one registered by someone else): it trains a signed champion instead of keeping it,
and leaves a champion signed with this key alone."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from local_stack.processes import PYTHON
from sentiment_model.manifest import MANIFEST_FILE, read_verified
from tests.conftest import MODEL_SIGNING_KEY, TINY_LSTM_PARAMS, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL_NAME = "bootstrap-trust-lstm"
# The tiny model alone: no teacher to train first, one direction.
PARAMS = {**TINY_LSTM_PARAMS, "embedding": "word2vec", "teacher": "none", "bidirectional": False}


def _bootstrap(stack: Stack) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [PYTHON, "-m", "training_worker", "bootstrap", "--params", json.dumps(PARAMS)],
        env={**os.environ, **stack.env(LSTM_MODEL_NAME=MODEL_NAME)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return completed


def _unsigned_champion(stack: Stack, work: Path) -> str:
    client = MlflowClient(stack.mlflow_url)
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.create_registered_model(MODEL_NAME)
    (work / "model").mkdir()
    (work / "model" / "MLmodel").write_text("flavors: {}\n")
    mlflow.set_tracking_uri(stack.mlflow_url)
    mlflow.set_experiment("bootstrap-trust")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(work / "model"), artifact_path="model")
    version = client.create_model_version(MODEL_NAME, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(MODEL_NAME, "champion", version.version)
    return str(version.version)


def test_bootstrap_replaces_an_unsigned_champion_and_keeps_a_signed_one(stack: Stack, tmp_path: Path) -> None:
    unsigned = _unsigned_champion(stack, tmp_path)
    first = _bootstrap(stack)
    assert f"champion {MODEL_NAME} v{unsigned} is refused" in first.stdout, first.stdout[-3000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["promoted"] is True, summary
    champion = MlflowClient(stack.mlflow_url).get_model_version_by_alias(MODEL_NAME, "champion")
    assert str(champion.version) == summary["model_version"] != unsigned
    with tempfile.TemporaryDirectory() as tmp:
        source = MlflowClient(stack.mlflow_url).get_model_version_download_uri(MODEL_NAME, champion.version)
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"{source}/{MANIFEST_FILE}", dst_path=tmp, tracking_uri=stack.mlflow_url
        )
        read_verified(Path(tmp), MODEL_SIGNING_KEY, names=())

    again = _bootstrap(stack)
    assert f"champion already registered: {MODEL_NAME} v{champion.version}" in again.stdout, again.stdout[-3000:]
