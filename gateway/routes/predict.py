"""POST /predict and /predict/batch: validated tweets go down the process's predict path (gateway/predict_path.py).

Concurrent requests are coalesced into few calls (gateway/batching.py); each caller still gets its own prediction
ids and the model version that computed its tweets.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.deps import PredictPathDep, predict_path_of
from gateway.ratelimit import RATE_LIMITED
from shared.schemas.api import PredictBatchRequest, PredictBatchResponse, Prediction, PredictRequest

UNAVAILABLE = {
    503: {
        "description": "No inference worker answered in time, Redis is down, or Redis is at its memory budget "
        '("storage full"); see Retry-After.'
    }
}


class _CountsInvalidBodies(APIRoute):
    """A request whose body is refused (400 undecodable, 422 invalid) counts against the caller's request limit
    too, so that a flood of bad bodies is not free; past the limit it is answered 429 instead."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def counted(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                await predict_path_of(request).charge_refused_body(request)
                raise
            except StarletteHTTPException as exc:
                if exc.status_code == status.HTTP_400_BAD_REQUEST:
                    await predict_path_of(request).charge_refused_body(request)
                raise

        return counted


router = APIRouter(tags=["predict"], responses=RATE_LIMITED, route_class=_CountsInvalidBodies)


@router.post("/predict", response_model=Prediction, responses=UNAVAILABLE)
async def predict(body: PredictRequest, request: Request, path: PredictPathDep) -> Response:
    """Sentiment of one tweet: label, probability of "positive", and the model version that computed it."""
    (prediction,) = await path.predict([body.text], request)
    # Validated once above; serialised straight to JSON rather than validated again through response_model.
    return Response(prediction.model_dump_json(), media_type="application/json")


@router.post("/predict/batch", response_model=PredictBatchResponse, responses=UNAVAILABLE)
async def predict_batch(body: PredictBatchRequest, request: Request, path: PredictPathDep) -> Response:
    """Up to 1,000 tweets in one call; answers come back in the order sent."""
    answer = PredictBatchResponse(predictions=await path.predict(body.texts, request))
    return Response(answer.model_dump_json(), media_type="application/json")
