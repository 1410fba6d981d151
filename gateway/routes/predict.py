"""POST /predict and /predict/batch: validated tweets go to the inference workers; the answer comes back.

Concurrent requests are coalesced into few calls (gateway/batching.py); each caller still gets its own prediction
ids and the model version that computed its tweets.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import metrics
from gateway.batching import Coalescer
from gateway.inference_client import InferenceClient, InferenceUnavailable, StorageFull
from gateway.ratelimit import RATE_LIMITED, PredictRateLimit
from gateway.settings import GatewaySettings
from shared.schemas.api import PredictBatchRequest, PredictBatchResponse, Prediction, PredictRequest

UNAVAILABLE = {
    503: {
        "description": "No inference worker answered in time, Redis is down, or Redis is at its memory budget "
        '("storage full"); see Retry-After.'
    }
}


def _unavailable(message: str, retry_after_s: int) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{message}; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


def _storage_full(exc: StorageFull, settings: GatewaySettings) -> HTTPException:
    return _unavailable(str(exc), settings.storage_full_retry_after_s)


class PredictPath:
    """The gateway process's inference client, rate limit and coalescer, made on first use in the serving loop."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.client = InferenceClient(settings.redis_url, settings.worker_heartbeat_max_age_s)
        self.rate_limit = PredictRateLimit(settings, self.client.redis)
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


class _CountsInvalidBodies(APIRoute):
    """A request whose body is refused (400 undecodable, 422 invalid) counts against the caller's request limit
    too, so that a flood of bad bodies is not free; past the limit it is answered 429 instead."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def counted(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                await _charge_refused_body(request)
                raise
            except StarletteHTTPException as exc:
                if exc.status_code == status.HTTP_400_BAD_REQUEST:
                    await _charge_refused_body(request)
                raise

        return counted


async def _charge_refused_body(request: Request) -> None:
    # A full Redis cannot count it: the 4xx that says what to fix is the more useful answer then.
    with contextlib.suppress(StorageFull):
        await _predict_path(request).rate_limit.charge(request, tweets=0)


router = APIRouter(tags=["predict"], responses=RATE_LIMITED, route_class=_CountsInvalidBodies)


async def _predict(texts: list[str], request: Request) -> list[Prediction]:
    path = _predict_path(request)
    settings = path.settings
    try:
        # Called here rather than declared as a route dependency: FastAPI's dependency solving costs every
        # request more than the check itself.
        await path.rate_limit.charge(request, tweets=len(texts))
        workers = await path.client.live_worker_count()
    except StorageFull as exc:
        raise _storage_full(exc, settings) from exc
    except (redis.RedisError, OSError) as exc:
        raise _unavailable("Redis is unreachable", settings.retry_after_s) from exc
    if not workers:
        # A full Redis refuses worker heartbeats too: then the cause to name is the storage, not the workers.
        reason = await path.client.storage_full_reason()
        if reason is not None:
            raise _unavailable(reason, settings.storage_full_retry_after_s)
        # Fail fast rather than let the caller wait out the timeout for a worker that is not there.
        raise _unavailable("no inference worker is running", settings.retry_after_s)
    try:
        answers = await path.coalescer.predict(texts, request.state.request_id)
    except StorageFull as exc:
        raise _storage_full(exc, settings) from exc
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
