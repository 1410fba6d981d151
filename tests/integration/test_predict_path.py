"""A tweet goes gateway -> Redis -> inference worker -> registered LSTM -> answer, over real processes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import mlflow
import pytest
import redis
from mlflow import MlflowClient

from sentiment_model.manifest import MANIFEST_FILE, read_verified
from shared import redis_keys
from shared.prediction_record import decode_record
from tests.conftest import MODEL_SIGNING_KEY

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def signed_threshold(mlflow_url: str, champion: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        source = MlflowClient(mlflow_url).get_model_version_download_uri(
            champion["model_name"], champion["model_version"]
        )
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"{source}/{MANIFEST_FILE}", dst_path=tmp, tracking_uri=mlflow_url
        )
        return float(read_verified(Path(tmp), MODEL_SIGNING_KEY, names=()).metadata["threshold"])


def test_predict_answers_with_the_champion(ready_gateway: str, tiny_champion: dict, stack) -> None:
    response = httpx.post(ready_gateway + "/predict", json={"text": "@united thank you, great flight!"}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label"] in ("positive", "negative")
    assert 0.0 <= body["probability_positive"] <= 1.0
    assert body["model_name"] == "air-paradis-lstm"
    assert body["model_version"] == tiny_champion["model_version"]
    assert body["embedding_type"] == "word2vec"
    # The threshold the answer was judged by: the one training chose and signed into the version's manifest.
    assert body["threshold"] == pytest.approx(signed_threshold(stack.mlflow_url, tiny_champion), abs=1e-9)
    assert body["label"] == ("positive" if body["probability_positive"] >= body["threshold"] else "negative")
    assert response.headers["X-Request-ID"]
    # The worker recorded the prediction so that feedback can refer to it later.
    stored = redis.Redis.from_url(stack.redis_url).get(redis_keys.prediction(body["prediction_id"]))
    record = decode_record(body["prediction_id"], stored)
    assert record.text == "@united thank you, great flight!"
    assert record.model_version == body["model_version"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"text": ""}, "empty"),
        ({"text": "   \n\t"}, "empty"),
        ({"text": 42}, "string"),
        ({"text": "x" * 1001}, "at most 1000"),
        ({}, "required"),
    ],
)
def test_bad_text_is_refused_with_a_message(gateway: str, payload: dict, fragment: str) -> None:
    response = httpx.post(gateway + "/predict", json=payload, timeout=10)
    assert response.status_code == 422
    assert fragment in response.json()["message"].lower()


def test_ready_names_the_serving_model(ready_gateway: str, tiny_champion: dict) -> None:
    body = httpx.get(ready_gateway + "/ready", timeout=10).json()
    assert body["ready"] is True
    assert body["model_version"] == tiny_champion["model_version"]
    assert body["problems"] == []
