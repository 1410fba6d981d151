"""One training run end to end: data -> fixed split -> family -> MLflow run -> registration -> promotion."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import mlflow
import redis
from mlflow import MlflowClient

from shared.logging_setup import kv
from shared.training_params import validate_params
from training_worker.datasets import load_dataset
from training_worker.feedback import FeedbackUse, add_feedback, read_feedback
from training_worker.promotion import promote_if_better
from training_worker.settings import TrainingSettings
from training_worker.splits import Split, make_split
from training_worker.tracking import FamilyContext, FamilyResult, Progress, log_split, no_progress, register

log = logging.getLogger(__name__)


@dataclass
class TrainingOutcome:
    family: str
    run_id: str
    model_name: str
    model_version: str
    metrics: dict[str, float]
    promoted: bool
    train_seconds: float
    decision: dict[str, object] = field(default_factory=dict)


def prepare_split(
    params: Any, prediction_log_url: str | None, job_id: str | None = None
) -> tuple[Split, FeedbackUse | None]:
    """The dataset's fixed split, with the prediction log's feedback in training when the job asks for it."""
    dataset = load_dataset(params.dataset, params.max_rows)
    split = make_split(dataset, params.seed, params.validation_fraction, params.test_fraction)
    if not params.include_feedback or prediction_log_url is None:
        return split, None
    examples = read_feedback(prediction_log_url, params.feedback_since)
    return add_feedback(split, examples, params.feedback_since, job_id)


def run_training(
    family: str,
    raw_params: dict[str, Any],
    settings: TrainingSettings,
    redis_client: redis.Redis | None = None,
    progress: Progress = no_progress,
    job_id: str | None = None,
) -> TrainingOutcome:
    params = validate_params(family, raw_params)
    split, feedback = prepare_split(params, settings.prediction_log_url, job_id)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.experiment_name)
    client = MlflowClient(settings.mlflow_tracking_uri)
    model_name = settings.registered_model_names()[family]
    # Each family's trainer is the module of its name (shared/families.py lists the families).
    trainer = import_module(f"training_worker.families.{family}")
    log.info(
        "training started %s",
        kv(job_id=job_id, family=family, rows_train=len(split.train_texts), split_hash=split.split_hash),
    )
    context = FamilyContext(
        target_precision=settings.target_precision,
        signing_key=settings.model_signing_key.get_secret_value(),
        tracking_uri=settings.mlflow_tracking_uri,
        progress=progress,
    )
    with mlflow.start_run(run_name=f"{family}-{split.dataset_name}") as run:
        mlflow.set_tags({"family": family, **({"job_id": job_id} if job_id else {})})
        log_split(split)
        if feedback is not None:
            mlflow.log_params(feedback.as_params())
        result: FamilyResult = trainer.train(split, params, context)
    # Registration comes only after the run has everything logged: a failed run registers nothing.
    version = register(client, result, model_name, family, split)
    decision = promote_if_better(
        client,
        redis_client,
        family,
        model_name,
        version,
        result.test_metrics,
        split,
        context.signing_key,
        context.target_precision,
        settings.champion_alias,
        mode=settings.promotion_mode,
        job_id=job_id,
    )
    client.log_dict(run.info.run_id, decision.as_dict(), "promotion/decision.json")
    client.set_tag(run.info.run_id, "promotion", "promoted" if decision.promoted else "not promoted")
    client.set_tag(run.info.run_id, "promotion_reason", decision.reason[:500])
    log.info(
        "training finished %s",
        kv(
            job_id=job_id,
            family=family,
            run_id=run.info.run_id,
            version=version,
            threshold=f"{result.operating_point.threshold:.4f}",
            precision=f"{result.test_metrics['test_precision']:.4f}",
            recall_at_target=f"{result.test_metrics['test_recall_at_target_precision']:.4f}",
            promoted=decision.promoted,
        ),
    )
    return TrainingOutcome(
        family,
        result.run_id,
        model_name,
        version,
        result.test_metrics,
        decision.promoted,
        result.train_seconds,
        decision.as_dict(),
    )
