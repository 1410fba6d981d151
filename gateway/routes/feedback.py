"""POST /feedback: an analyst says what a prediction should have been; a wrong one becomes a misprediction event."""

from __future__ import annotations

import json
import logging

import redis
from fastapi import APIRouter, HTTPException, Request, Response, status

from gateway.deps import AnalystRole, RedisDep, SettingsDep
from gateway.feedback_limit import charge_feedback
from shared import redis_keys
from shared.events import FEEDBACK_STREAM, MISPREDICTIONS_STREAM, STREAM_MAXLEN
from shared.logging_setup import kv
from shared.prediction_record import RecordedPrediction, decode_record
from shared.schemas.api import FeedbackRequest
from shared.schemas.base import new_id, utc_now
from shared.schemas.events import FeedbackRecord, MispredictionEvent

log = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])

# Concurrent flags on one prediction race on its feedback key; a few optimistic retries settle them.
_MAX_WATCH_RETRIES = 5

RESPONSES = {
    200: {"description": "The prediction was already flagged: same feedback id (label updated if it changed)."},
    401: {"description": "Missing or unknown X-API-Key (analyst or admin key needed)."},
    404: {"description": "No prediction with this id (never made, or expired)."},
    409: {"description": "The same prediction is being flagged concurrently; retry."},
    429: {"description": "Too many feedback requests for this API key in a minute; see Retry-After."},
    503: {"description": "Redis is unreachable; see Retry-After."},
}


def _unavailable(retry_after_s: int) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"Redis is unreachable, the feedback was not stored; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


def _decide(
    body: FeedbackRequest, prediction: RecordedPrediction, existing: FeedbackRecord | None, analyst: str
) -> tuple[FeedbackRecord, bool]:
    """The record to store and whether it changed; an unchanged repeat keeps its id and writes nothing.
    `analyst` is the name the caller's key carries."""
    now = utc_now()
    if existing is None:
        record = FeedbackRecord(
            feedback_id=new_id(),
            prediction_id=prediction.prediction_id,
            predicted_label=prediction.label,
            correct_label=body.correct_label,
            is_misprediction=body.correct_label != prediction.label,
            comment=body.comment,
            analyst=analyst,
            created_at=now,
            updated_at=now,
        )
        return record, True
    same_label = existing.correct_label == body.correct_label
    if same_label and (body.comment is None or body.comment == existing.comment):
        return existing, False
    updated = existing.model_copy(
        update={
            "correct_label": body.correct_label,
            "is_misprediction": body.correct_label != prediction.label,
            "comment": body.comment if body.comment is not None else existing.comment,
            "analyst": analyst,
            "updated_at": now,
        }
    )
    return updated, True


def _store(
    client: redis.Redis, body: FeedbackRequest, analyst: str, request_id: str
) -> tuple[FeedbackRecord, bool, MispredictionEvent | None]:
    """Read, decide and write in one optimistic transaction; returns (record, is_new, event published)."""
    feedback_key = redis_keys.feedback_by_prediction(body.prediction_id)
    prediction_key = redis_keys.prediction(body.prediction_id)
    for _ in range(_MAX_WATCH_RETRIES):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(feedback_key)
                raw_prediction = pipe.get(prediction_key)
                if raw_prediction is None:
                    raise HTTPException(
                        status.HTTP_404_NOT_FOUND,
                        f"no prediction with id {body.prediction_id!r}: use the prediction_id a /predict answer "
                        "returned (predictions expire after a while)",
                    )
                prediction = decode_record(body.prediction_id, raw_prediction)
                raw_existing = pipe.get(feedback_key)
                existing = FeedbackRecord.model_validate_json(raw_existing) if raw_existing else None
                record, changed = _decide(body, prediction, existing, analyst)
                if not changed:
                    pipe.unwatch()
                    return record, False, None
                label_changed = existing is None or existing.correct_label != record.correct_label
                event = None
                if record.is_misprediction and label_changed:
                    event = MispredictionEvent(
                        prediction_id=prediction.prediction_id,
                        feedback_id=record.feedback_id,
                        text=prediction.text,
                        predicted_label=prediction.label,
                        probability_positive=prediction.probability_positive,
                        correct_label=record.correct_label,
                        model_name=prediction.model_name,
                        model_version=prediction.model_version,
                        analyst=analyst,
                        occurred_at=record.updated_at,
                    )
                # The record, the correction and the event land together or not at all: an event is never
                # lost behind a stored record, nor published twice by a retried request.
                pipe.multi()
                pipe.set(feedback_key, record.model_dump_json())
                if record.is_misprediction:
                    correction = json.dumps(
                        {"text": prediction.text, "label": record.correct_label}, ensure_ascii=False
                    )
                    pipe.hset(redis_keys.FEEDBACK_CORRECTIONS, prediction.prediction_id, correction)
                else:
                    pipe.hdel(redis_keys.FEEDBACK_CORRECTIONS, prediction.prediction_id)
                pipe.xadd(FEEDBACK_STREAM, {"data": record.model_dump_json()}, maxlen=STREAM_MAXLEN, approximate=True)
                if event is not None:
                    pipe.xadd(
                        MISPREDICTIONS_STREAM, {"data": event.model_dump_json()}, maxlen=STREAM_MAXLEN, approximate=True
                    )
                pipe.execute()
                log.info(
                    "feedback stored %s",
                    kv(
                        request_id=request_id,
                        prediction_id=record.prediction_id,
                        feedback_id=record.feedback_id,
                        misprediction=record.is_misprediction,
                        event_id=event.event_id if event else None,
                        model_version=prediction.model_version,
                    ),
                )
                return record, existing is None, event
            except redis.WatchError:
                continue
    raise HTTPException(status.HTTP_409_CONFLICT, "this prediction is being flagged concurrently: retry")


@router.post("/feedback", response_model=FeedbackRecord, status_code=status.HTTP_201_CREATED, responses=RESPONSES)
def give_feedback(
    body: FeedbackRequest,
    caller: AnalystRole,
    request: Request,
    response: Response,
    settings: SettingsDep,
    redis_client: RedisDep,
) -> FeedbackRecord:
    """Flag what a prediction should have been. A label that differs from the prediction raises a misprediction
    event for alerting and stores the corrected tweet for the next training run. Past the per-key limit: 429."""
    try:
        charge_feedback(redis_client, caller, settings.feedback_rate_limit_per_minute)
        record, is_new, _ = _store(redis_client, body, analyst=caller.name, request_id=request.state.request_id)
    except (redis.RedisError, OSError) as exc:
        log.warning("feedback not stored %s", kv(prediction_id=body.prediction_id, error=exc.__class__.__name__))
        raise _unavailable(settings.retry_after_s) from exc
    if not is_new:
        response.status_code = status.HTTP_200_OK
    return record
