"""POST /feedback: an analyst says what a prediction should have been; a wrong one becomes a misprediction event."""

from __future__ import annotations

import logging

import redis
from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError

from gateway.deps import AnalystRole, FeedbackStoreDep, RedisDep, SettingsDep
from gateway.errors import unavailable
from gateway.feedback_limit import charge_feedback
from shared.feedback import FeedbackConflict, PredictionNotFound
from shared.logging_setup import kv
from shared.schemas.api import FeedbackRequest
from shared.schemas.events import FeedbackRecord
from shared.shadow_stats import ShadowStore

log = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])

RESPONSES = {
    200: {"description": "The prediction was already flagged: same feedback id (label updated if it changed)."},
    401: {"description": "Missing or unknown X-API-Key (analyst or admin key needed)."},
    404: {"description": "No prediction with this id (never made, or expired)."},
    409: {"description": "The same prediction is being flagged concurrently; retry."},
    429: {"description": "Too many feedback requests for this API key in a minute; see Retry-After."},
    503: {"description": "Redis, or the prediction log for an older prediction, is unreachable; see Retry-After."},
}


@router.post("/feedback", response_model=FeedbackRecord, status_code=status.HTTP_201_CREATED, responses=RESPONSES)
def give_feedback(
    body: FeedbackRequest,
    caller: AnalystRole,
    request: Request,
    response: Response,
    settings: SettingsDep,
    redis_client: RedisDep,
    store: FeedbackStoreDep,
) -> FeedbackRecord:
    """Flag what a prediction should have been. A label that differs from the prediction raises a misprediction
    event for alerting and stores the corrected tweet for the next training run. Past the per-key limit: 429."""
    try:
        charge_feedback(redis_client, caller, settings.feedback_rate_limit_per_minute)
        outcome = store.give(body, analyst=caller.name)
    except PredictionNotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no prediction with id {body.prediction_id!r}: use the prediction_id a /predict answer "
            "returned (predictions older than the prediction log's retention are gone)",
        ) from None
    except FeedbackConflict:
        raise HTTPException(status.HTTP_409_CONFLICT, "this prediction is being flagged concurrently: retry") from None
    except (redis.RedisError, OSError) as exc:
        log.warning("feedback not stored %s", kv(prediction_id=body.prediction_id, error=exc.__class__.__name__))
        raise unavailable("Redis is unreachable, the feedback was not stored", settings.retry_after_s) from exc
    except SQLAlchemyError as exc:  # only an older prediction, no longer in Redis, is looked up there
        log.warning("feedback not stored %s", kv(prediction_id=body.prediction_id, error=exc.__class__.__name__))
        raise unavailable(
            "the prediction log is unreachable, the feedback was not stored", settings.retry_after_s
        ) from exc
    record = outcome.record
    _count_for_shadow(redis_client, record)
    if outcome.changed:
        log.info(
            "feedback stored %s",
            kv(
                request_id=request.state.request_id,
                prediction_id=record.prediction_id,
                feedback_id=record.feedback_id,
                misprediction=record.is_misprediction,
                event_id=outcome.event.event_id if outcome.event else None,
                model_version=outcome.prediction.model_version,
            ),
        )
    if not outcome.is_new:
        response.status_code = status.HTTP_200_OK
    return record


def _count_for_shadow(redis_client: redis.Redis, record: FeedbackRecord) -> None:
    """A shadow-scored prediction's label counts for the champion and the challenger (once, so a retry is safe)."""
    try:
        ShadowStore(redis_client).record_label(record.prediction_id, record.correct_label)
    except (redis.RedisError, OSError) as exc:  # the feedback itself is stored: only the shadow figures miss it
        log.warning("shadow label not counted %s", kv(prediction_id=record.prediction_id, error=exc.__class__.__name__))
