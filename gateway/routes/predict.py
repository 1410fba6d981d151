"""POST /predict and /predict/batch: validated tweets go to the inference workers; the answer comes back.

Concurrent requests are coalesced into few calls (gateway/batching.py); each caller still gets its own prediction
ids and the model version that computed its tweets.
"""

from __future__ import annotations

import time

import redis
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from gateway import metrics
from gateway.batching import Coalescer
from gateway.inference_client import InferenceClient, InferenceUnavailable
from gateway.ratelimit import RATE_LIMITED, enforce_predict_rate_limit
from gateway.settings import GatewaySettings
from shared.schemas import PredictBatchRequest, PredictBatchResponse, Prediction, PredictRequest

router = APIRouter(tags=["predict"], responses=RATE_LIMITED)

UNAVAILABLE = {503: {"description": "No inference worker answered in time, or Redis is down; see Retry-After."}}


def _unavailable(message: str, retry_after_s: int) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{message}; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


class PredictPath:
    """The gateway process's inference client and coalescer, made on first use in the serving event loop."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.client = InferenceClient(settings.redis_url, settings.worker_heartbeat_max_age_s)
        self.coalescer = Coalescer(
            self._dispatch,
            window_ms=settings.predict_batch_window_ms,
            max_batch_size=settings.predict_max_batch_size,
            max_in_flight=settings.predict_max_in_flight,
            observe=metrics.observe_coalesced,
        )

    async def _dispatch(self, texts: list[str], request_ids: list[str]) -> list[Prediction]:
        started = time.perf_counter()
        outcome = "error"
        try:
            answers = await self.client.predict(texts, request_ids, self.settings.predict_timeout_s)
            outcome = "ok"
            return answers
        finally:
            metrics.INFERENCE_ROUND_TRIP.labels(outcome).observe(time.perf_counter() - started)


def _predict_path(request: Request) -> PredictPath:
    # Settings come from app.state, not from the sync SettingsDep: a sync dependency costs a threadpool hop
    # per request, which shows at thousands of requests per second.
    path = getattr(request.app.state, "predict_path", None)
    if path is None:
        path = request.app.state.predict_path = PredictPath(request.app.state.settings)
    return path


async def _predict(texts: list[str], request: Request) -> list[Prediction]:
    path = _predict_path(request)
    settings = path.settings
    # Called here rather than declared as a route dependency: FastAPI's dependency solving costs every request
    # more than the check itself, and only valid requests, the ones that reach the workers, need counting.
    await enforce_predict_rate_limit(request, settings, path.client.redis)
    try:
        workers = await path.client.live_worker_count()
    except (redis.RedisError, OSError) as exc:
        raise _unavailable("Redis is unreachable", settings.retry_after_s) from exc
    if not workers:
        # Fail fast rather than let the caller wait out the timeout for a worker that is not there.
        raise _unavailable("no inference worker is running", settings.retry_after_s)
    try:
        answers = await path.coalescer.predict(texts, request.state.request_id)
    except InferenceUnavailable as exc:
        raise _unavailable(str(exc), settings.retry_after_s) from exc
    except (redis.RedisError, OSError) as exc:
        raise _unavailable("Redis is unreachable", settings.retry_after_s) from exc
    return answers


@router.post("/predict", response_model=Prediction, responses=UNAVAILABLE)
async def predict(body: PredictRequest, request: Request) -> Response:
    """Sentiment of one tweet: label, probability of "positive", and the model version that computed it."""
    (prediction,) = await _predict([body.text], request)
    # Validated once above; serialised straight to JSON rather than validated again through response_model.
    return Response(prediction.model_dump_json(), media_type="application/json")


@router.post("/predict/batch", response_model=PredictBatchResponse, responses=UNAVAILABLE)
async def predict_batch(body: PredictBatchRequest, request: Request) -> Response:
    """Up to 1,000 tweets in one call; answers come back in the order sent."""
    answer = PredictBatchResponse(predictions=await _predict(body.texts, request))
    return Response(answer.model_dump_json(), media_type="application/json")
