"""Parameters of each training family: validated by the gateway before queueing and again by the worker."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Vectorizer = Literal["bow", "tfidf"]
ClassicalModel = Literal["logreg", "naive_bayes", "linear_svm", "random_forest"]


class CommonParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        "bundled", description="`bundled`, `bundled-airline`, or the path of a CSV on the training worker."
    )
    max_rows: int | None = Field(None, ge=50, le=2_000_000, description="Seeded sample of the dataset.")
    seed: int = Field(42, ge=0, le=2**31 - 1)
    validation_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    include_feedback: bool = Field(False, description="Add analysts' corrected tweets to the training split.")


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
    glove_path: str | None = Field(None, description="A GloVe .txt of another dimension; bundled 50d otherwise.")
    max_len: int = Field(40, ge=5, le=200)
    max_vocab: int = Field(20_000, ge=100, le=500_000)
    lstm_units: int = Field(64, ge=4, le=1024)
    dropout: float = Field(0.2, ge=0.0, lt=0.9)
    epochs: int = Field(6, ge=1, le=100)
    batch_size: int = Field(64, ge=1, le=4096)
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0)
    patience: int = Field(2, ge=0, le=20)
    train_embeddings: bool = False
    word2vec_epochs: int = Field(10, ge=1, le=100)


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


PARAMS_BY_FAMILY: dict[str, type[CommonParams]] = {
    "classical": ClassicalParams,
    "lstm": LstmParams,
    "bert": BertParams,
}


def validate_params(family: str, params: dict[str, Any]) -> CommonParams:
    """Parse a job's params for its family; raises ValueError/ValidationError naming the offending field."""
    if family not in PARAMS_BY_FAMILY:
        raise ValueError(f"unknown family {family!r}: choose one of {sorted(PARAMS_BY_FAMILY)}")
    return PARAMS_BY_FAMILY[family].model_validate(params)


__all__ = ["PARAMS_BY_FAMILY", "BertParams", "ClassicalParams", "LstmParams", "ValidationError", "validate_params"]
