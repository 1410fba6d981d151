"""Promotion: a new version takes its model's `champion` alias only when its test precision beats the champion's."""

from __future__ import annotations

import logging

import mlflow
import redis
from mlflow import MlflowClient

from shared import events
from shared.logging_setup import kv
from shared.registry import EMBEDDING_TYPE_TAG, SPLIT_HASH_TAG, TEST_PRECISION_TAG, champion_version, model_uri
from shared.schemas import ModelPromotedEvent, TrainingFamily
from training_worker.evaluation import classification_metrics
from training_worker.splits import Split

log = logging.getLogger(__name__)


def champion_precision_on(client: MlflowClient, model_name: str, alias: str, split: Split) -> float | None:
    """The champion's test precision on `split`: its recorded one when the split is the same, else re-measured."""
    champion = champion_version(client, model_name, alias)
    if champion is None:
        return None
    if champion.tags.get(SPLIT_HASH_TAG) == split.split_hash and TEST_PRECISION_TAG in champion.tags:
        return float(champion.tags[TEST_PRECISION_TAG])
    # A different split (other data or seed): score the champion on this run's test set so the comparison is fair.
    model = mlflow.pyfunc.load_model(model_uri(model_name, alias))
    import pandas as pd

    predicted = model.predict(pd.DataFrame({"text": split.test_texts}))
    return classification_metrics(split.test_labels, predicted["probability_positive"].to_numpy())["test_precision"]


def promote_if_better(
    client: MlflowClient,
    redis_client: redis.Redis | None,
    family: TrainingFamily,
    model_name: str,
    version: str,
    precision: float,
    split: Split,
    alias: str = "champion",
) -> bool:
    current = champion_version(client, model_name, alias)
    current_precision = champion_precision_on(client, model_name, alias, split) if current else None
    if current is not None and current_precision is not None and precision <= current_precision:
        log.info(
            "not promoted %s",
            kv(
                model=model_name,
                version=version,
                precision=f"{precision:.4f}",
                champion=current.version,
                champion_precision=f"{current_precision:.4f}",
            ),
        )
        return False
    client.set_registered_model_alias(model_name, alias, version)
    embedding_type = client.get_model_version(model_name, version).tags.get(EMBEDDING_TYPE_TAG)
    event = ModelPromotedEvent(
        family=family,
        model_name=model_name,
        model_version=version,
        alias=alias,
        precision=precision,
        embedding_type=embedding_type,
        previous_version=current.version if current else None,
    )
    if redis_client is not None:
        events.publish(redis_client, events.MODEL_PROMOTED_STREAM, event)
    log.info(
        "promoted %s",
        kv(model=model_name, version=version, precision=f"{precision:.4f}", previous=event.previous_version),
    )
    return True
