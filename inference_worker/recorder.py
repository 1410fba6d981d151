"""Records every prediction in Redis so that feedback can refer to it by id."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from shared import redis_keys
from shared.schemas import Prediction, PredictionRecord, utc_now


def record_predictions(
    client: redis.Redis,
    predictions: Sequence[Prediction],
    texts: Sequence[str],
    request_ids: str | Sequence[str | None] | None,
    ttl_s: int,
) -> None:
    """One round trip for the whole batch; `request_ids` is one id for all, or one per prediction."""
    now = utc_now()
    if request_ids is None or isinstance(request_ids, str):
        request_ids = [request_ids] * len(predictions)
    pipe = client.pipeline(transaction=False)
    for prediction, text, request_id in zip(predictions, texts, request_ids, strict=True):
        record = PredictionRecord(**prediction.model_dump(), text=text, created_at=now, request_id=request_id)
        pipe.set(redis_keys.prediction(prediction.prediction_id), record.model_dump_json(), ex=ttl_s)
    pipe.execute()
