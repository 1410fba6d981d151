"""What every family logs to MLflow: the split, the operating point, test KPIs, plots, the signed model, the version.

A family trains and scores; `log_family_model` does the rest the same way for all of them: it chooses the
threshold on validation, evaluates test at that threshold, saves the pyfunc into a local folder, signs every file
of it (sentiment_model/manifest.py), and uploads the folder as the run's `model` artifact.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

import sentiment_model
from sentiment_model.manifest import sign_folder
from sentiment_model.preprocessing import PREPROCESSING_VERSION
from sentiment_model.pyfunc import SentimentPyfunc
from shared.drift import DRIFT_REFERENCE_KEY, reference_of
from shared.registry import (
    EMBEDDING_TYPE_TAG,
    FAMILY_TAG,
    RECALL_AT_TARGET_TAG,
    SPLIT_HASH_TAG,
    TEST_PRECISION_TAG,
    THRESHOLD_TAG,
)
from training_worker.evaluation import OperatingPoint, choose_operating_point, classification_metrics, report_text
from training_worker.plots import evaluation_plots
from training_worker.splits import Split

Progress = Callable[[int, int, str], None]
MODEL_ARTIFACT_PATH = "model"

# Every family's pyfunc takes raw tweets and answers the same two columns, so promotion, the UI and
# `mlflow models serve` treat them alike.
PYFUNC_SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "text")]),
    outputs=Schema([ColSpec("double", "probability_positive"), ColSpec("string", "label")]),
)
# What any logged model needs at serving time besides its framework; pinned so that MLflow does not spend
# seconds inferring requirements (and does not record a CUDA torch).
BASE_SERVING_REQUIREMENTS = [
    "mlflow==3.17.2",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "simplemma==2.0.0",
    "emoji==2.16.0",
]


def no_progress(current: int, total: int, message: str) -> None:
    return None


@dataclass(frozen=True)
class FamilyContext:
    """What a family's `train` needs besides its split and params."""

    target_precision: float
    signing_key: str
    tracking_uri: str | None = None
    progress: Progress = no_progress


@dataclass
class FamilyResult:
    """A trained, logged, signed model of one family, ready to be registered."""

    run_id: str
    model_uri: str
    test_metrics: dict[str, float]
    operating_point: OperatingPoint
    tags: dict[str, str] = field(default_factory=dict)
    train_seconds: float = 0.0


@dataclass(frozen=True)
class TrainedModel:
    """A family's output before logging: its pyfunc and artifacts, and its scores on validation and test."""

    family: str
    python_model: SentimentPyfunc
    artifacts: dict[str, str]
    framework_requirements: list[str]
    embedding_type: str
    val_scores: Sequence[float]
    test_scores: Sequence[float]
    train_seconds: float
    title: str
    model_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # Share of test tokens outside the vocabulary, for families that have one (serving's drift watch compares).
    test_oov_share: float | None = None


def log_split(split: Split) -> None:
    mlflow.log_params({f"split_{k}" if not k.startswith("split") else k: v for k, v in split.describe().items()})
    mlflow.set_tags({"dataset": split.dataset_name, SPLIT_HASH_TAG: split.split_hash})


def log_evaluation(
    y_true: Sequence[int],
    probability_positive: Sequence[float],
    threshold: float,
    title: str,
    target_precision: float,
) -> dict[str, float]:
    """Log test KPIs, the confusion matrix / ROC / PR PNGs and the classification report of the active run."""
    metrics = classification_metrics(y_true, probability_positive, threshold, target_precision=target_precision)
    mlflow.log_metrics(metrics)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for path in evaluation_plots(y_true, probability_positive, threshold, title, out):
            mlflow.log_artifact(str(path), artifact_path="plots")
        report = out / "classification_report.txt"
        report.write_text(report_text(y_true, probability_positive, threshold), encoding="utf-8")
        mlflow.log_artifact(str(report), artifact_path="reports")
    return metrics


def log_family_model(trained: TrainedModel, split: Split, context: FamilyContext) -> FamilyResult:
    """Operating point on validation, test KPIs at it, then the signed model folder uploaded to the active run.

    Call it while the artifact files still exist: MLflow copies them into the saved folder.
    """
    point = choose_operating_point(split.val_labels, trained.val_scores, context.target_precision)
    mlflow.log_metrics({f"val_operating_{k}": float(v) for k, v in point.as_dict().items()})
    mlflow.set_tag("target_precision_met_on_validation", str(point.target_met).lower())
    test_metrics = log_evaluation(
        split.test_labels, trained.test_scores, point.threshold, trained.title, context.target_precision
    )
    metadata = {
        "family": trained.family,
        "embedding_type": trained.embedding_type,
        "preprocessing": PREPROCESSING_VERSION,
        "split_hash": split.split_hash,
        "held_out_hash": split.held_out_hash,
        "threshold": point.threshold,
        "target_precision": context.target_precision,
        "target_met_on_validation": point.target_met,
        **{name: float(value) for name, value in test_metrics.items()},
        # What serving's drift watch compares live traffic with: signed with the model, like the threshold.
        DRIFT_REFERENCE_KEY: reference_of(
            split.test_texts, trained.test_scores, point.threshold, trained.test_oov_share
        ).model_dump(),
    }
    run = mlflow.active_run()
    assert run is not None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / MODEL_ARTIFACT_PATH
        mlflow.pyfunc.save_model(
            path=str(folder),
            python_model=trained.python_model,
            artifacts=trained.artifacts,
            code_paths=[str(Path(sentiment_model.__file__).parent)],
            pip_requirements=[*BASE_SERVING_REQUIREMENTS, *trained.framework_requirements],
            signature=PYFUNC_SIGNATURE,
            model_config={
                **trained.model_config,
                "threshold": point.threshold,
                "embedding_type": trained.embedding_type,
            },
        )
        sign_folder(folder, trained.family, metadata, context.signing_key)
        mlflow.log_artifacts(str(folder), artifact_path=MODEL_ARTIFACT_PATH)
    tags = {EMBEDDING_TYPE_TAG: trained.embedding_type, **trained.tags}
    return FamilyResult(
        run_id=run.info.run_id,
        model_uri=f"runs:/{run.info.run_id}/{MODEL_ARTIFACT_PATH}",
        test_metrics=test_metrics,
        operating_point=point,
        tags=tags,
        train_seconds=trained.train_seconds,
    )


def register(client: MlflowClient, result: FamilyResult, model_name: str, family: str, split: Split) -> str:
    """Register the logged model and tag the version (the tags are for people; the manifest is what is trusted)."""
    version = mlflow.register_model(result.model_uri, model_name)
    metrics = result.test_metrics
    tags = {
        FAMILY_TAG: family,
        SPLIT_HASH_TAG: split.split_hash,
        TEST_PRECISION_TAG: f"{metrics.get('test_precision', 0.0):.6f}",
        THRESHOLD_TAG: f"{result.operating_point.threshold:.6f}",
        RECALL_AT_TARGET_TAG: f"{metrics.get('test_recall_at_target_precision', 0.0):.6f}",
        **result.tags,
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version.version, key, value)
    return str(version.version)
