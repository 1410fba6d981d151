"""Parameters of each training family: validated by the gateway before queueing and again by the worker."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

Vectorizer = Literal["bow", "tfidf"]
# Registered champions whose averaged probabilities an LSTM student learns from ("none": gold labels only).
Teacher = Literal["none", "classical", "bert", "bert+classical"]
ClassicalModel = Literal["logreg", "naive_bayes", "linear_svm", "random_forest"]


BUNDLED_DATASETS = ("bundled", "bundled-airline")
# The validation context key that carries the validating service's data directory (DATA_DIR).
DATA_DIR_CONTEXT = "data_dir"


def _inside_data_dir(value: str, info: ValidationInfo) -> str:
    """A data file named relative to the data directory, or absolute inside it; checked on the path alone (the
    training worker checks the file itself: a regular file, not too large, not a link out of the directory)."""
    if info.field_name == "dataset" and value in BUNDLED_DATASETS:
        return value
    if "\x00" in value:
        raise ValueError("the path contains a NUL character")
    path = PurePosixPath(value)
    if ".." in path.parts:
        raise ValueError(f"{value!r} climbs out with `..`: name a file inside the training data directory")
    data_dir = (info.context or {}).get(DATA_DIR_CONTEXT)
    if path.is_absolute() and data_dir is not None:
        root = PurePosixPath(os.path.normpath(os.path.abspath(data_dir)))
        if not PurePosixPath(os.path.normpath(value)).is_relative_to(root):
            raise ValueError(
                f"{value!r} is outside the training data directory {root}: put the file there and name it "
                "relative to it (e.g. `tweets.csv`)"
            )
    return value


DataFilePath = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_inside_data_dir)]


class CommonParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: DataFilePath = Field(
        "bundled",
        description="`bundled`, `bundled-airline`, or a CSV in the training worker's data directory (DATA_DIR), "
        "named relative to it.",
    )
    max_rows: int | None = Field(None, ge=50, le=2_000_000, description="Seeded sample of the dataset.")
    seed: int = Field(42, ge=0, le=2**31 - 1)
    validation_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    include_feedback: bool = Field(
        False,
        description="Add analysts' corrections and confirmations from the prediction log to the training split "
        "(never a tweet of the validation or test split).",
    )
    feedback_since: datetime | None = Field(
        None,
        description="With include_feedback: only feedback given from this time on (ISO 8601, e.g. 2026-11-01; "
        "UTC without an offset).",
    )

    @field_validator("feedback_since")
    @classmethod
    def _feedback_since(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        if not info.data.get("include_feedback"):
            raise ValueError("feedback_since limits the feedback a job adds: set include_feedback to true as well")
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if moment > datetime.now(UTC):
            raise ValueError(f"feedback_since {moment.isoformat()} is in the future: no feedback was given after it")
        return moment


class ClassicalParams(CommonParams):
    vectorizers: list[Vectorizer] = Field(default_factory=lambda: ["bow", "tfidf"], min_length=1)
    models: list[ClassicalModel] = Field(
        default_factory=lambda: ["logreg", "naive_bayes", "linear_svm", "random_forest"], min_length=1
    )
    cv_folds: int = Field(3, ge=2, le=10)
    grid: Literal["small", "default"] = "default"
    max_features: int = Field(20_000, ge=100, le=500_000)


class LstmParams(CommonParams):
    embedding: Literal["word2vec", "glove"] = "word2vec"
    embedding_dim: int = Field(100, ge=8, le=300, description="Word2Vec size (GloVe takes the vectors' own).")
    glove_path: DataFilePath | None = Field(
        None, description="A GloVe .txt in the data directory (DATA_DIR), relative to it; bundled 50d otherwise."
    )
    max_len: int = Field(40, ge=5, le=200)
    max_vocab: int = Field(20_000, ge=100, le=500_000)
    correct_typos: bool = Field(
        True, description="Read an unknown word as the most frequent vocabulary word one typo away (amazng -> amazing)."
    )
    lstm_units: int = Field(64, ge=4, le=1024)
    dropout: float = Field(0.2, ge=0.0, lt=0.9)
    epochs: int = Field(6, ge=1, le=100)
    batch_size: int = Field(64, ge=1, le=4096)
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0)
    patience: int = Field(2, ge=0, le=20)
    train_embeddings: bool = False
    word2vec_epochs: int = Field(10, ge=1, le=100)
    bidirectional: bool = Field(False, description="Read each tweet both ways (a BiLSTM): ~2x the serving cost.")
    unfreeze_embeddings_after: int | None = Field(
        None, ge=0, le=100, description="Epochs with fixed embeddings before they train too (a warm-up)."
    )
    teacher: Teacher = Field(
        "none", description="Distil from these registered champions (trained on the same held-out split)."
    )
    teacher_versions: dict[Literal["classical", "bert"], Annotated[str, Field(pattern=r"^[0-9]{1,9}$")]] = Field(
        default_factory=dict, description="Teach with these registered versions instead of the families' champions."
    )
    negation_counterfactuals: bool = Field(
        False, description="Add training tweets with their one sentiment word negated, labelled for the negation."
    )
    distill_alpha: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of the gold label in a real tweet's target; the teacher has the rest."
    )
    augment_copies: int = Field(
        2, ge=0, le=20, description="Augmented copies of each training tweet, labelled by the teacher alone."
    )


class BertParams(CommonParams):
    model_name_or_path: str | None = Field(
        None, description="A local path or hub id; the training worker's BERT_MODEL setting otherwise."
    )
    max_length: int = Field(64, ge=8, le=512)
    epochs: int = Field(1, ge=1, le=20)
    batch_size: int = Field(16, ge=1, le=512)
    learning_rate: float = Field(5e-5, gt=0.0, le=1.0)
    num_layers: int | None = Field(None, ge=1, le=48, description="Keep only the first N encoder layers.")
    weight_decay: float = Field(0.01, ge=0.0, le=1.0)
    freeze_embeddings: bool = Field(
        False, description="Keep the word-piece embeddings fixed: ~3x faster steps on CPU, for small data."
    )
    frozen_encoder: bool = Field(
        False,
        description="No fine-tuning: the base model's mean-pooled sentence embeddings under a logistic regression "
        "(a cheap teacher on CPU).",
    )
    head_c: float = Field(1.0, gt=0.0, le=1000.0, description="Inverse regularisation of the frozen encoder's head.")


def validate_params(family: str, params: dict[str, Any], data_dir: str | Path | None = None) -> CommonParams:
    """Parse a job's params for its family; raises ValueError/ValidationError naming the offending field.

    With `data_dir`, data file paths (`dataset`, `glove_path`) must also lie inside it."""
    from shared.families import FAMILIES  # the list of families is built from the parameter classes above

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}: choose one of {sorted(FAMILIES)}")
    context = {DATA_DIR_CONTEXT: str(data_dir)} if data_dir is not None else None
    return FAMILIES[family].params.model_validate(params, context=context)


__all__ = ["BertParams", "ClassicalParams", "LstmParams", "ValidationError", "validate_params"]
