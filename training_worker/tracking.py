"""What every family logs to MLflow: the split, the test KPIs, the evaluation PNGs and report, the registration."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

import sentiment_model
from sentiment_model.pyfunc import DEFAULT_THRESHOLD, SentimentPyfunc
from shared.registry import EMBEDDING_TYPE_TAG, FAMILY_TAG, SPLIT_HASH_TAG, TEST_PRECISION_TAG
from training_worker.evaluation import classification_metrics, report_text
from training_worker.plots import evaluation_plots
from training_worker.splits import Split

Progress = Callable[[int, int, str], None]

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


@dataclass
class FamilyResult:
    """A trained, logged model of one family, ready to be registered."""

    run_id: str
    model_uri: str
    test_metrics: dict[str, float]
    tags: dict[str, str] = field(default_factory=dict)
    train_seconds: float = 0.0


def log_split(split: Split) -> None:
    mlflow.log_params({f"split_{k}" if not k.startswith("split") else k: v for k, v in split.describe().items()})
    mlflow.set_tags({"dataset": split.dataset_name, SPLIT_HASH_TAG: split.split_hash})


def log_evaluation(
    y_true: Sequence[int], probability_positive: Sequence[float], threshold: float, title: str
) -> dict[str, float]:
    """Log test KPIs, the confusion matrix / ROC / PR PNGs and the classification report of the active run."""
    metrics = classification_metrics(y_true, probability_positive, threshold)
    mlflow.log_metrics(metrics)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for path in evaluation_plots(y_true, probability_positive, threshold, title, out):
            mlflow.log_artifact(str(path), artifact_path="plots")
        report = out / "classification_report.txt"
        report.write_text(report_text(y_true, probability_positive, threshold), encoding="utf-8")
        mlflow.log_artifact(str(report), artifact_path="reports")
    return metrics


def log_sentiment_model(
    python_model: SentimentPyfunc,
    artifacts: dict[str, str],
    framework_requirements: list[str],
    model_config: dict[str, object],
    tags: dict[str, str],
    test_metrics: dict[str, float],
    train_seconds: float,
) -> FamilyResult:
    """Log a family's pyfunc in the active run, the same way for every family, and describe it for registration.

    Call it while the artifact files still exist: MLflow copies them during the call.
    """
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        artifacts=artifacts,
        code_paths=[str(Path(sentiment_model.__file__).parent)],
        pip_requirements=[*BASE_SERVING_REQUIREMENTS, *framework_requirements],
        signature=PYFUNC_SIGNATURE,
        model_config={"threshold": DEFAULT_THRESHOLD, **model_config},
    )
    run = mlflow.active_run()
    assert run is not None
    return FamilyResult(
        run_id=run.info.run_id,
        model_uri=info.model_uri,
        test_metrics=test_metrics,
        tags=tags,
        train_seconds=train_seconds,
    )


def register(client: MlflowClient, result: FamilyResult, model_name: str, family: str, split: Split) -> str:
    """Register the logged model and tag the version; returns the new version number."""
    version = mlflow.register_model(result.model_uri, model_name)
    tags = {
        FAMILY_TAG: family,
        SPLIT_HASH_TAG: split.split_hash,
        TEST_PRECISION_TAG: f"{result.test_metrics.get('test_precision', 0.0):.6f}",
        **result.tags,
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version.version, key, value)
    return str(version.version)


__all__ = ["EMBEDDING_TYPE_TAG", "FamilyResult", "Progress", "log_evaluation", "log_split", "no_progress", "register"]
