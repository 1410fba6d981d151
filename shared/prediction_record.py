"""The prediction record the inference worker keeps in Redis so that feedback can refer to a prediction by id.

Only what feedback reads, as a compact JSON array under `prediction:<id>` (the key holds the id):
`[label (1 positive, 0 negative), probability_positive, model_name, model_version, text, request_id]`, the request
id left out when there is none. Every answered tweet costs one such key for `prediction_ttl_s`, so each byte counts.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from shared.schemas.api import Prediction
from shared.schemas.base import Label

_LABELS: tuple[Label, Label] = ("negative", "positive")


class RecordedPrediction(BaseModel):
    """A stored prediction as feedback sees it."""

    model_config = ConfigDict(extra="ignore")

    prediction_id: str
    label: Label
    probability_positive: float
    model_name: str
    model_version: str
    text: str
    request_id: str | None = None


def encode_record(prediction: Prediction, text: str, request_id: str | None) -> str:
    fields: list[object] = [
        1 if prediction.label == "positive" else 0,
        prediction.probability_positive,
        prediction.model_name,
        prediction.model_version,
        text,
    ]
    if request_id:
        fields.append(request_id)
    # Raw UTF-8 rather than \u escapes: an emoji costs 4 bytes instead of 12.
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def decode_record(prediction_id: str, raw: bytes | str) -> RecordedPrediction:
    """The record stored under `prediction_id`; ValueError if it is unreadable."""
    value = json.loads(raw)
    if isinstance(value, dict):
        # A record stored as a whole PredictionRecord object (a worker of an earlier release) stays readable until it
        # expires, so that an upgrade loses no feedback.
        return RecordedPrediction.model_validate({**value, "prediction_id": prediction_id})
    if not isinstance(value, list) or len(value) not in (5, 6) or value[0] not in (0, 1):
        raise ValueError(f"unreadable prediction record for {prediction_id!r}")
    label, probability, model_name, model_version, text, *request_id = value
    return RecordedPrediction(
        prediction_id=prediction_id,
        label=_LABELS[label],
        probability_positive=probability,
        model_name=model_name,
        model_version=model_version,
        text=text,
        request_id=request_id[0] if request_id else None,
    )
