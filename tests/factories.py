"""Factories for the messages tests build: a prediction, its stored record, a misprediction flag.

Each takes only what a test cares about as keyword arguments; every other field gets a valid, typical value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis

from shared import redis_keys
from shared.schemas.api import Prediction
from shared.schemas.base import new_id, utc_now
from shared.schemas.calls import PredictionRecord
from shared.schemas.events import MispredictionEvent

MODEL_NAME = "air-paradis-lstm"


def make_prediction(**fields: Any) -> Prediction:
    """An answer as the worker gives it: a fresh id, a negative label at 0.5 by default."""
    defaults: dict[str, Any] = {
        "prediction_id": new_id(),
        "label": "negative",
        "probability_positive": 0.123457,
        "model_name": MODEL_NAME,
        "model_version": "7",
        "embedding_type": "word2vec",
        "threshold": 0.5,
    }
    return Prediction(**{**defaults, **fields})


def make_prediction_record(text: str, label: str = "positive", **fields: Any) -> PredictionRecord:
    """What the worker stores for feedback: the probability agrees with the label unless given."""
    defaults: dict[str, Any] = {
        "prediction_id": new_id(),
        "label": label,
        "probability_positive": 0.9 if label == "positive" else 0.1,
        "model_name": MODEL_NAME,
        "model_version": "1",
        "embedding_type": "word2vec",
        "text": text,
        "created_at": utc_now(),
    }
    return PredictionRecord(**{**defaults, **fields})


def store_prediction_record(client: redis.Redis, record: PredictionRecord, ttl_s: int = 600) -> str:
    """Stores `record` where feedback looks it up, as the worker does; returns its prediction id."""
    client.set(redis_keys.prediction(record.prediction_id), record.model_dump_json(), ex=ttl_s)
    return record.prediction_id


def make_misprediction(
    text: str, number: int | str = 1, occurred_at: datetime | None = None, **fields: Any
) -> MispredictionEvent:
    """What the gateway publishes when an analyst says a positive answer should have been negative."""
    defaults: dict[str, Any] = {
        "prediction_id": f"pred-{number}",
        "feedback_id": f"fb-{number}",
        "text": text,
        "predicted_label": "positive",
        "probability_positive": 0.8,
        "correct_label": "negative",
        "model_name": MODEL_NAME,
        "model_version": "4",
        "analyst": "analyst",
        "occurred_at": occurred_at or utc_now(),
    }
    return MispredictionEvent(**{**defaults, **fields})
