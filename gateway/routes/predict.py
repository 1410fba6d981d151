"""POST /predict and /predict/batch: validated tweets go to the inference queue; the answer comes back."""

from __future__ import annotations

import redis
from fastapi import APIRouter, Depends, HTTPException, Request, status

from gateway.deps import CeleryDep, RedisDep, SettingsDep
from gateway.inference_client import InferenceUnavailable, live_workers, predict_texts
from gateway.ratelimit import RATE_LIMITED, enforce_predict_rate_limit
from shared.schemas import PredictBatchRequest, PredictBatchResponse, Prediction, PredictRequest

router = APIRouter(tags=["predict"], dependencies=[Depends(enforce_predict_rate_limit)], responses=RATE_LIMITED)

UNAVAILABLE = {503: {"description": "No inference worker answered in time, or Redis is down; see Retry-After."}}


def _unavailable(message: str, retry_after_s: int) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{message}; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


async def _predict(
    texts: list[str], request: Request, settings: SettingsDep, redis_client: RedisDep, celery: CeleryDep
) -> list[Prediction]:
    try:
        workers = live_workers(redis_client, settings.worker_heartbeat_max_age_s)
    except (redis.RedisError, OSError) as exc:
        raise _unavailable("Redis is unreachable", settings.retry_after_s) from exc
    if not workers:
        # Fail fast rather than let the caller wait out the timeout for a worker that is not there.
        raise _unavailable("no inference worker is running", settings.retry_after_s)
    try:
        return await predict_texts(celery, texts, request.state.request_id, settings.predict_timeout_s)
    except InferenceUnavailable as exc:
        raise _unavailable(str(exc), settings.retry_after_s) from exc


@router.post("/predict", response_model=Prediction, responses=UNAVAILABLE)
async def predict(
    body: PredictRequest, request: Request, settings: SettingsDep, redis_client: RedisDep, celery: CeleryDep
) -> Prediction:
    """Sentiment of one tweet: label, probability of "positive", and the model version that computed it."""
    return (await _predict([body.text], request, settings, redis_client, celery))[0]


@router.post("/predict/batch", response_model=PredictBatchResponse, responses=UNAVAILABLE)
async def predict_batch(
    body: PredictBatchRequest, request: Request, settings: SettingsDep, redis_client: RedisDep, celery: CeleryDep
) -> PredictBatchResponse:
    """Up to 1,000 tweets in one call; answers come back in the order sent."""
    return PredictBatchResponse(predictions=await _predict(body.texts, request, settings, redis_client, celery))
