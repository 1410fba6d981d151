"""The served path keeps the trained numbers: the ONNX scorer the worker loads vs Keras; served vs training-time
encoder, threshold and metrics."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from sentiment_model.encoder import SequenceEncoder
from sentiment_model.lstm import LstmScorer, load_verified_lstm
from sentiment_model.preprocessing import preprocess
from shared.registry import SPLIT_HASH_TAG
from shared.training_params import validate_params
from tests.conftest import MODEL_SIGNING_KEY, TINY_LSTM_PARAMS
from training_worker.datasets import load_dataset
from training_worker.embeddings import real_words
from training_worker.evaluation import classification_metrics
from training_worker.pipeline import prepare_split

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARITY_TWEETS = 300
MAX_ABS_DIFF = 1e-5
# Rows the ONNX graph must not get wrong either: nothing left after preprocessing (all padding, the LSTM reads no
# step), and more tokens than the encoder keeps (truncated, no padding at all).
EDGE_TWEETS = ["@united http://t.co/x", " ".join(["flight delayed crew rude"] * 15)]


@pytest.fixture(scope="module")
def champion_dir(stack, tiny_champion: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    mlflow.set_tracking_uri(stack.mlflow_url)
    uri = f"models:/{tiny_champion['model_name']}/{tiny_champion['model_version']}"
    return Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path_factory.mktemp("champion"))))


def _served(champion_dir: Path) -> LstmScorer:
    """The scorer as the inference worker builds it: from the signed manifest and the two serving files only."""
    scorer, _manifest = load_verified_lstm(champion_dir, MODEL_SIGNING_KEY)
    return scorer


@pytest.fixture(scope="module")
def real_tweets() -> list[str]:
    return load_dataset("bundled-airline").texts[-PARITY_TWEETS:] + EDGE_TWEETS


def _keras_probabilities(champion_dir: Path, ids: np.ndarray) -> np.ndarray:
    import keras

    (keras_file,) = champion_dir.rglob("*.keras")
    model = keras.saving.load_model(keras_file, compile=False)
    return np.asarray(model.predict_on_batch(ids)).reshape(-1)


def test_onnx_scorer_matches_the_keras_model(champion_dir: Path, real_tweets: list[str]) -> None:
    served = _served(champion_dir)
    ids = served.encoder.encode(real_tweets)
    assert ids[-2].max() == 0 and ids[-1].min() > 0  # the edge rows are what they claim to be
    expected = _keras_probabilities(champion_dir, ids)
    got = served.predict_proba(real_tweets)
    assert got.shape == (len(real_tweets),)
    diff = float(np.max(np.abs(got - expected)))
    assert diff <= MAX_ABS_DIFF, f"ONNX differs from Keras by up to {diff:.2e} on {len(real_tweets)} tweets"
    # Batched and one-by-one answers agree too (padding / batch shape must not change a tweet's score).
    singles = np.array([served.predict_proba([t])[0] for t in real_tweets[:20]])
    assert float(np.max(np.abs(singles - got[:20]))) <= MAX_ABS_DIFF


def test_served_model_is_the_trained_one(stack, tiny_champion: dict, champion_dir: Path) -> None:
    """Same split, same encoder ids, same threshold and test metrics as the ones the training run logged and signed."""
    params = validate_params("lstm", TINY_LSTM_PARAMS)
    split, _ = prepare_split(params, None)
    client = MlflowClient(stack.mlflow_url)
    version = client.get_model_version(tiny_champion["model_name"], tiny_champion["model_version"])
    assert version.tags[SPLIT_HASH_TAG] == split.split_hash

    served = _served(champion_dir)
    # The encoder training fits, refit here from the same training texts, is the one saved with the model.
    trained_encoder = SequenceEncoder.fit(
        [preprocess(t) for t in split.train_texts],
        max_vocab=params.max_vocab,
        max_len=params.max_len,
        real_words=real_words(),
    )
    assert served.encoder.vocabulary == trained_encoder.vocabulary
    assert served.encoder.correct_typos and served.encoder.kept_words == trained_encoder.kept_words
    np.testing.assert_array_equal(served.encoder.encode(split.test_texts), trained_encoder.encode(split.test_texts))

    # Answers are judged at the threshold training chose and signed, and the run logged the test figures at it.
    scores = served.predict_proba(split.test_texts)
    served_metrics = classification_metrics(split.test_labels, scores, served.threshold)
    logged = client.get_run(version.run_id).data.metrics
    for name in ("test_precision", "test_recall", "test_accuracy", "test_f1"):
        assert served_metrics[name] == pytest.approx(logged[name], abs=1e-9), name
        assert served_metrics[name] == pytest.approx(served.metadata[name], abs=1e-9), name
    labels = [served.label_of(float(p)) for p in scores]
    assert labels.count("positive") == int(np.sum(scores >= served.threshold))
    assert served_metrics["test_roc_auc"] == pytest.approx(logged["test_roc_auc"], abs=1e-3)
