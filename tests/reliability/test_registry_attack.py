"""Whoever reaches MLflow registers a version whose pickle runs a command on load and points `@champion` at it:
the inference worker never runs it, keeps serving the signed champion, and /ready names the refused version.

The attacker uses MLflow's own client with no credential and without MODEL_SIGNING_KEY: once with no manifest at
all, once with the real champion's ONNX graph and encoder under a manifest signed with a key of its own.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from pathlib import Path

import httpx
import mlflow
import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from local_stack.processes import wait_until
from sentiment_model.lstm import SERVING_FILES
from sentiment_model.manifest import sign_folder
from shared.settings import ServiceSettings
from tests.reliability.conftest import FaultStack, record_fault, serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREDICTIONS_PER_ATTEMPT = 10


class RunsACommandWhenUnpickled(mlflow.pyfunc.PythonModel):
    """A pyfunc whose pickle is `os.system(command)`: loading it with `mlflow.pyfunc.load_model` runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))

    def predict(self, context, model_input, params=None):  # untyped: MLflow reads type hints as a schema
        return model_input


def _register_folder(client: MlflowClient, tracking_uri: str, name: str, folder: Path) -> str:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("not-a-training-run")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return str(version.version)


def register_pickle_bomb(
    client: MlflowClient, tracking_uri: str, name: str, command: str, work: Path, forge_from: str | None = None
) -> str:
    """A version of `name` whose python_model.pkl runs `command` on load; with `forge_from` (a good version), it also
    carries that version's serving files under a manifest signed with a key that is not the workers'."""
    folder = work / "model"
    mlflow.pyfunc.save_model(str(folder), python_model=RunsACommandWhenUnpickled(command), pip_requirements=[])
    if forge_from is not None:
        source = client.get_model_version_download_uri(name, forge_from)
        for relpath in SERVING_FILES:
            copied = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{source}/{relpath}", dst_path=str(work / "good"), tracking_uri=tracking_uri
            )
            (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(copied, folder / relpath)
        sign_folder(folder, "lstm", {"threshold": 0.0, "embedding_type": "word2vec"}, "the-attacker's-own-key")
    return _register_folder(client, tracking_uri, name, folder)


def _ready(url: str) -> dict:
    return httpx.get(url + "/ready", timeout=10).json()


def test_a_version_registered_without_the_signing_key_never_runs_in_the_worker(
    faults: FaultStack, fault_table: Path, tmp_path: Path
) -> None:
    served = serve(faults, "attack", worker_env={"ALIAS_POLL_INTERVAL_S": "1"})
    good = _ready(served.url)["model_version"]
    name = ServiceSettings().lstm_model_name
    marker = tmp_path / "code-ran-in-the-worker"
    command = f"touch {shlex.quote(str(marker))}"
    # The attacker: no MLFLOW_TRACKING_USERNAME/PASSWORD, no MODEL_SIGNING_KEY, just the registry's address.
    client = MlflowClient(faults.stack.mlflow_url)
    sent = answered = 0
    try:
        for forged in (False, True):
            with tempfile.TemporaryDirectory(dir=tmp_path) as work:
                evil = register_pickle_bomb(
                    client, faults.stack.mlflow_url, name, command, Path(work), forge_from=good if forged else None
                )
            assert not marker.exists(), "registering the version ran it in the test process: the test proves nothing"
            client.set_registered_model_alias(name, "champion", evil)

            def refusal_reported(version: str = evil) -> bool:
                return any(f"version {version} refused" in problem for problem in _ready(served.url)["problems"])

            wait_until(refusal_reported, 60, f"/ready naming refused version {evil}", interval_s=0.3)
            assert not marker.exists(), f"version {evil}'s pickle ran in the inference worker"
            body = _ready(served.url)
            assert body["ready"] is True and body["model_version"] == good, body
            (problem,) = [p for p in body["problems"] if f"version {evil} refused" in p]
            assert ("signature does not match" if forged else "no manifest.json") in problem, problem
            for i in range(PREDICTIONS_PER_ATTEMPT):
                sent += 1
                response = httpx.post(served.url + "/predict", json={"text": f"@united flight {i} ok"}, timeout=30)
                assert response.status_code == 200, response.text
                assert response.json()["model_version"] == good
                answered += 1
            assert not marker.exists(), f"version {evil}'s pickle ran in the inference worker"
            refused = f"model refused model={name} version={evil}"
            # Written by the worker's logging thread, a moment after the refusal.
            wait_until(lambda r=refused: r in served.worker.log_path.read_text(errors="replace"), 30, "refusal")
    finally:
        client.set_registered_model_alias(name, "champion", good)
    wait_until(lambda: _ready(served.url)["problems"] == [], 30, "refusal cleared once the alias is back")
    record_fault(
        fault_table,
        "registry: unsigned / wrongly signed version with a code-running pickle promoted",
        sent,
        answered,
        0,
        sent - answered,
        note=f"both refused before any unpickling; v{good} kept serving",
    )
