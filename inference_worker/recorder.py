"""Records every prediction in Redis so that feedback can refer to it by id (shared/prediction_record.py), and
writes the prediction log stream's entry for the log writer (shared/schemas/prediction_log.py)."""

from __future__ import annotations

import json
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


def log_entry(
    predictions: Sequence[Prediction],
    texts: Sequence[str],
    request_ids: Sequence[str | None],
    callers: Sequence[str | None] | None,
    created_at: float,
) -> str:
    """One read's predictions as the log stream's `predictions` field: a JSON list of LoggedPredictionIn."""
    rows = []
    for index, (prediction, text, request_id) in enumerate(zip(predictions, texts, request_ids, strict=True)):
        rows.append(
            {
                "prediction_id": prediction.prediction_id,
                "text": text,
                "label": prediction.label,
                "probability_positive": prediction.probability_positive,
                "threshold": prediction.threshold,
                "model_name": prediction.model_name,
                "model_version": prediction.model_version,
                "request_id": request_id,
                "caller": callers[index] if callers else None,
                "created_at": created_at,
            }
        )
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
