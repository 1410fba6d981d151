"""LSTM family: Word2Vec or GloVe embeddings + a Keras LSTM, logged as the shared LSTM pyfunc format."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np

from sentiment_model.encoder import SequenceEncoder
from sentiment_model.lstm import (
    ENCODER_ARTIFACT,
    KERAS_ARTIFACT,
    ONNX_ARTIFACT,
    LstmSentimentModel,
)
from sentiment_model.preprocessing import preprocess
from sentiment_model.pyfunc import DEFAULT_THRESHOLD
from shared.registry import EMBEDDING_TYPE_TAG
from shared.training_params import LstmParams
from training_worker.embeddings import glove_matrix, word2vec_matrix
from training_worker.onnx_export import export_onnx
from training_worker.plots import training_curves
from training_worker.splits import Split
from training_worker.tracking import FamilyResult, Progress, log_evaluation, log_sentiment_model

log = logging.getLogger(__name__)

# The framework pins this model needs at serving time, beside tracking.BASE_SERVING_REQUIREMENTS; pinned to avoid
# MLflow's slow requirement inference (and its habit of recording a CUDA torch).
SERVING_REQUIREMENTS = ["tensorflow==2.21.0", "keras==3.15.1", "onnxruntime==1.32.0"]


def build_model(vocab_size: int, embedding: np.ndarray, params: LstmParams):
    """A flat functional model (a nested Sequential can reload with fresh weights)."""
    import keras

    token_ids = keras.Input(shape=(params.max_len,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        vocab_size,
        embedding.shape[1],
        mask_zero=True,
        trainable=params.train_embeddings,
        name="embedding",
        embeddings_initializer=keras.initializers.Constant(embedding),
    )(token_ids)
    x = keras.layers.LSTM(params.lstm_units, dropout=params.dropout, name="lstm")(x)
    x = keras.layers.Dropout(params.dropout)(x)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability_positive")(x)
    model = keras.Model(token_ids, probability, name="lstm_sentiment")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=params.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.Precision(name="precision")],
    )
    return model


def train(split: Split, params: LstmParams, progress: Progress) -> FamilyResult:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(params.seed)
    started = time.perf_counter()
    train_tokens = [preprocess(t) for t in split.train_texts]
    encoder = SequenceEncoder.fit(train_tokens, max_vocab=params.max_vocab, max_len=params.max_len)
    progress(0, params.epochs, f"building {params.embedding} embeddings for {encoder.vocab_size} tokens")
    if params.embedding == "word2vec":
        matrix, coverage = word2vec_matrix(
            train_tokens, encoder, params.embedding_dim, params.seed, params.word2vec_epochs
        )
        dim = params.embedding_dim
    else:
        matrix, coverage, dim = glove_matrix(encoder, params.seed, params.glove_path)
    encoder.extra["embedding_type"] = params.embedding
    mlflow.log_params(
        {
            "family": "lstm",
            **params.model_dump(exclude={"dataset"}),
            "embedding_dim_used": dim,
            "vocab_size": encoder.vocab_size,
        }
    )
    mlflow.log_metric("embedding_vocab_coverage", coverage)

    x_train = encoder.encode_tokens(train_tokens)
    x_val = encoder.encode(split.val_texts)
    x_test = encoder.encode(split.test_texts)
    y_train = np.asarray(split.train_labels, dtype=np.float32)
    y_val = np.asarray(split.val_labels, dtype=np.float32)

    model = build_model(encoder.vocab_size, matrix, params)

    class EpochReporter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            mlflow.log_metrics({k: float(v) for k, v in logs.items()}, step=epoch + 1)
            progress(
                epoch + 1,
                params.epochs,
                f"epoch {epoch + 1}/{params.epochs} loss={logs.get('loss', 0):.4f} "
                f"val_loss={logs.get('val_loss', 0):.4f}",
            )

    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=params.epochs,
        batch_size=params.batch_size,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=params.patience, restore_best_weights=True),
            EpochReporter(),
        ],
    )
    train_seconds = time.perf_counter() - started
    mlflow.log_metric("train_seconds", train_seconds)
    mlflow.log_metric("epochs_run", len(history.history.get("loss", [])))
    title = f"LSTM + {params.embedding}"
    test_proba = model.predict_on_batch(x_test).reshape(-1)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mlflow.log_artifact(str(training_curves(history.history, title, out)), artifact_path="plots")
        test_metrics = log_evaluation(split.test_labels, test_proba, DEFAULT_THRESHOLD, title)
        keras_path = out / "model.keras"
        model.save(keras_path)
        onnx_path = out / "model.onnx"
        export_onnx(model, onnx_path)
        encoder_path = out / "encoder.json"
        encoder.save(encoder_path)
        return log_sentiment_model(
            LstmSentimentModel(),
            {
                KERAS_ARTIFACT: str(keras_path),
                ONNX_ARTIFACT: str(onnx_path),
                ENCODER_ARTIFACT: str(encoder_path),
            },
            SERVING_REQUIREMENTS,
            {"embedding_type": params.embedding},
            {EMBEDDING_TYPE_TAG: params.embedding},
            test_metrics,
            train_seconds,
        )
