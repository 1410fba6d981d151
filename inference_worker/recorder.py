"""Records every prediction in Redis so that feedback can refer to it by id."""

from __future__ import annotations

from collections.abc import Sequence

from shared import redis_keys
from shared.schemas import Prediction, PredictionRecord, utc_now


def prediction_records(
    predictions: Sequence[Prediction], texts: Sequence[str], request_ids: Sequence[str | None]
) -> list[tuple[str, str]]:
    """(Redis key, JSON record) per prediction; the caller stores them with its reply, in the same round trip."""
    now = utc_now()
    records = []
    for prediction, text, request_id in zip(predictions, texts, request_ids, strict=True):
        # Built from already validated parts: no second validation on the answer's path.
        record = PredictionRecord.model_construct(**dict(prediction), text=text, created_at=now, request_id=request_id)
        records.append((redis_keys.prediction(prediction.prediction_id), record.model_dump_json()))
    return records
