"""Records every prediction in Redis so that feedback can refer to it by id (shared/prediction_record.py)."""

from __future__ import annotations

from collections.abc import Sequence

from shared import redis_keys
from shared.prediction_record import encode_record
from shared.schemas.api import Prediction


def prediction_records(
    predictions: Sequence[Prediction], texts: Sequence[str], request_ids: Sequence[str | None]
) -> list[tuple[str, str]]:
    """(Redis key, record) per prediction; the caller stores them with its reply, in the same round trip."""
    return [
        (redis_keys.prediction(prediction.prediction_id), encode_record(prediction, text, request_id))
        for prediction, text, request_id in zip(predictions, texts, request_ids, strict=True)
    ]
