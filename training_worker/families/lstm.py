"""LSTM family: Word2Vec or GloVe embeddings + a Keras (Bi)LSTM, optionally distilled from a teacher.

A distilled student (Tang et al. 2019) learns from a blend of gold labels and a teacher's probabilities on the real
tweets, and from the teacher alone on augmented copies of them (training_worker/augmentation.py). It is logged in
the same format as any LSTM: the ONNX graph and encoder that inference serves.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from sentiment_model.encoder import SequenceEncoder
from sentiment_model.lstm import ENCODER_ARTIFACT, KERAS_ARTIFACT, ONNX_ARTIFACT, LstmSentimentModel
from sentiment_model.preprocessing import PREPROCESSING_VERSION, preprocess
from shared.registry import TEACHER_TAG
from shared.training_params import LstmParams
from training_worker.augmentation import (
    augment,
    nearest_neighbours,
    negation_counterfactuals,
    polar_words,
    teacher_text,
)
from training_worker.embeddings import glove_matrix, real_words, word2vec_matrix
from training_worker.onnx_export import export_onnx
from training_worker.plots import training_curves
from training_worker.settings import get_settings
from training_worker.splits import Split
from training_worker.teacher import load_teacher, scores_key, teacher_scores
from training_worker.tracking import FamilyContext, FamilyResult, TrainedModel, log_family_model

log = logging.getLogger(__name__)

# The framework pins this model needs at serving time, beside tracking.BASE_SERVING_REQUIREMENTS; pinned to avoid
# MLflow's slow requirement inference.
SERVING_REQUIREMENTS = ["onnxruntime==1.32.0"]
# Fine-tuning pretrained vectors after the warm-up moves them less than the fresh layers above them.
UNFROZEN_LEARNING_RATE_FACTOR = 0.5


def build_model(vocab_size: int, embedding: np.ndarray, params: LstmParams) -> Any:
    """A flat functional model (a nested Sequential can reload with fresh weights)."""
    import keras

    token_ids = keras.Input(shape=(params.max_len,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        vocab_size,
        embedding.shape[1],
        mask_zero=True,
        trainable=params.train_embeddings and params.unfreeze_embeddings_after is None,
        name="embedding",
        embeddings_initializer=keras.initializers.Constant(embedding),
    )(token_ids)
    if params.bidirectional:
        x = keras.layers.Bidirectional(keras.layers.LSTM(params.lstm_units, dropout=params.dropout), name="lstm")(x)
    else:
        x = keras.layers.LSTM(params.lstm_units, dropout=params.dropout, name="lstm")(x)
    x = keras.layers.Dropout(params.dropout)(x)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability_positive")(x)
    model = keras.Model(token_ids, probability, name="lstm_sentiment")
    _compile(model, params.learning_rate)
    return model


def _compile(model: Any, learning_rate: float) -> None:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="binary_crossentropy")


def _embeddings(
    params: LstmParams, train_tokens: list[list[str]], encoder: SequenceEncoder
) -> tuple[np.ndarray, float, int]:
    if params.embedding == "word2vec":
        matrix, coverage = word2vec_matrix(
            train_tokens, encoder, params.embedding_dim, params.seed, params.word2vec_epochs
        )
        return matrix, coverage, params.embedding_dim
    return glove_matrix(encoder, params.seed, params.glove_path)


def _with_counterfactuals(
    params: LstmParams,
    split: Split,
    train_tokens: list[list[str]],
    encoder: SequenceEncoder,
    ids: np.ndarray,
    targets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The training rows plus, when asked for, negation counterfactuals of them."""
    if not params.negation_counterfactuals:
        return ids, targets
    rows, row_targets = negation_counterfactuals(train_tokens, split.train_labels, polar_words(train_tokens))
    mlflow.log_metric("negation_counterfactual_rows", len(rows))
    if not rows:
        return ids, targets
    return np.vstack([ids, encoder.encode_tokens(rows)]), np.concatenate([targets, row_targets])


def _real_and_transfer_rows(
    params: LstmParams,
    context: FamilyContext,
    split: Split,
    train_tokens: list[list[str]],
    encoder: SequenceEncoder,
    matrix: np.ndarray,
    work_dir: Path,
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    gold = np.asarray(split.train_labels, dtype=np.float32)
    ids = encoder.encode_tokens(train_tokens)
    if params.teacher == "none":
        return ids, gold, {}
    settings = get_settings()
    families = params.teacher.split("+")
    context.progress(0, params.epochs, f"loading teacher {params.teacher}")
    teacher = load_teacher(
        families,
        settings.registered_model_names(),
        settings.champion_alias,
        dict(params.teacher_versions),
        split,
        context.signing_key,
        work_dir,
    )
    augmented = augment(train_tokens, nearest_neighbours(encoder, matrix), params.augment_copies, params.seed)
    augmentation = {
        "copies": params.augment_copies,
        "seed": params.seed,
        "embedding": params.embedding,
        "embedding_dim": int(matrix.shape[1]),
        "preprocessing": PREPROCESSING_VERSION,
        "max_vocab": params.max_vocab,
    }
    context.progress(0, params.epochs, f"teacher {teacher.description} scoring {len(augmented)} augmented rows")
    scores = teacher_scores(
        teacher, split, [teacher_text(t) for t in augmented], scores_key(teacher, split, augmentation)
    )
    blended = params.distill_alpha * gold + (1.0 - params.distill_alpha) * scores.train
    mlflow.log_metrics({"transfer_rows": len(train_tokens) + len(augmented), "augmented_rows": len(augmented)})
    all_ids = np.vstack([ids, encoder.encode_tokens(augmented)]) if augmented else ids
    all_targets = np.concatenate([blended, scores.augmented]).astype(np.float32)
    return all_ids, all_targets, {TEACHER_TAG: teacher.description}


def _fit(model: Any, params: LstmParams, data: dict[str, np.ndarray], context: FamilyContext) -> dict[str, list[float]]:
    """Epoch by epoch: embeddings unfreeze after the warm-up; the weights of the lowest validation loss are kept."""
    embedding = model.get_layer("embedding")
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    best_loss, best_weights, waited = float("inf"), model.get_weights(), 0
    for epoch in range(1, params.epochs + 1):
        if params.unfreeze_embeddings_after is not None and epoch == params.unfreeze_embeddings_after + 1:
            embedding.trainable = True
            _compile(model, params.learning_rate * UNFROZEN_LEARNING_RATE_FACTOR)
        fitted = model.fit(
            data["x_train"], data["y_train"], batch_size=params.batch_size, epochs=1, verbose=0, shuffle=True
        )
        loss = float(fitted.history["loss"][-1])
        val_loss = float(model.evaluate(data["x_val"], data["y_val"], batch_size=512, verbose=0))
        history["loss"].append(loss)
        history["val_loss"].append(val_loss)
        mlflow.log_metrics({"loss": loss, "val_loss": val_loss}, step=epoch)
        context.progress(epoch, params.epochs, f"epoch {epoch}/{params.epochs} loss={loss:.4f} val_loss={val_loss:.4f}")
        if val_loss < best_loss:
            best_loss, best_weights, waited = val_loss, model.get_weights(), 0
        else:
            waited += 1
            if waited > params.patience:
                break
    model.set_weights(best_weights)
    return history


def train(split: Split, params: LstmParams, context: FamilyContext) -> FamilyResult:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(params.seed)
    started = time.perf_counter()
    train_tokens = [preprocess(t) for t in split.train_texts]
    encoder = SequenceEncoder.fit(
        train_tokens,
        max_vocab=params.max_vocab,
        max_len=params.max_len,
        correct_typos=params.correct_typos,
        real_words=real_words() if params.correct_typos else (),
    )
    context.progress(0, params.epochs, f"building {params.embedding} embeddings for {encoder.vocab_size} tokens")
    matrix, coverage, dim = _embeddings(params, train_tokens, encoder)
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
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ids, targets, teacher_tags = _real_and_transfer_rows(params, context, split, train_tokens, encoder, matrix, out)
        x_train, y_train = _with_counterfactuals(params, split, train_tokens, encoder, ids, targets)
        data = {
            "x_train": x_train,
            "y_train": y_train,
            "x_val": encoder.encode(split.val_texts),
            "y_val": np.asarray(split.val_labels, dtype=np.float32),
        }
        model = build_model(encoder.vocab_size, matrix, params)
        history = _fit(model, params, data, context)
        train_seconds = time.perf_counter() - started
        mlflow.log_metrics({"train_seconds": train_seconds, "epochs_run": len(history["loss"])})
        kind = "BiLSTM" if params.bidirectional else "LSTM"
        title = f"{kind} + {params.embedding}" + (f" (student of {teacher_tags[TEACHER_TAG]})" if teacher_tags else "")
        mlflow.log_artifact(str(training_curves(history, title, out)), artifact_path="plots")
        keras_path, onnx_path, encoder_path = out / "model.keras", out / "model.onnx", out / "encoder.json"
        model.save(keras_path)
        export_onnx(model, onnx_path)
        encoder.save(encoder_path)
        x_test = encoder.encode(split.test_texts)
        tokens, oov_tokens = SequenceEncoder.token_counts(x_test)
        trained = TrainedModel(
            family="lstm",
            python_model=LstmSentimentModel(),
            artifacts={
                KERAS_ARTIFACT: str(keras_path),
                ONNX_ARTIFACT: str(onnx_path),
                ENCODER_ARTIFACT: str(encoder_path),
            },
            framework_requirements=SERVING_REQUIREMENTS,
            embedding_type=params.embedding,
            val_scores=model.predict_on_batch(data["x_val"]).reshape(-1),
            test_scores=model.predict_on_batch(x_test).reshape(-1),
            test_oov_share=oov_tokens / tokens if tokens else None,
            train_seconds=train_seconds,
            title=title,
            model_config={"bidirectional": params.bidirectional},
            tags=teacher_tags,
        )
        return log_family_model(trained, split, context)
