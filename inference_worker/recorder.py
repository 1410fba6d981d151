"""Records every prediction in Redis so that feedback can refer to it by id."""

from __future__ import annotations

from collections.abc import Sequence

from redis.client import Pipeline

from shared import redis_keys
from shared.schemas import Prediction, PredictionRecord, utc_now


def add_prediction_records(
    pipe: Pipeline,
    predictions: Sequence[Prediction],
    texts: Sequence[str],
    request_ids: Sequence[str | None],
    ttl_s: int,
) -> None:
    """Queues one record per prediction on `pipe`: the caller sends them with its reply, in one round trip."""
    now = utc_now()
    for prediction, text, request_id in zip(predictions, texts, request_ids, strict=True):
        # Built from already validated parts: no second validation on the answer's path.
        record = PredictionRecord.model_construct(**dict(prediction), text=text, created_at=now, request_id=request_id)
        pipe.set(redis_keys.prediction(prediction.prediction_id), record.model_dump_json(), ex=ttl_s)
