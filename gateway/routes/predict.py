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
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class PredictShortcut:
    """Answers a valid `POST /predict` JSON body with the route's own endpoint, without FastAPI's per-request routing
    and dependency solving, which cost more than the rest of the request's work in the gateway. Anything else, an
    invalid body included, goes on to FastAPI unchanged, so its answers (422, 400, 404, 405) have one source."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # What the router would have matched: the access log and request metrics label the request by it.
        self._route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == "/predict")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        try:
            parsed = PredictRequest.model_validate_json(body) if not more else None
        except ValidationError:
            parsed = None
        if parsed is None:
            await self.app(scope, _replay(body, more, receive), send)
            return
        scope["route"] = self._route
        request = Request(scope, receive)
        try:
            response = await predict(parsed, request, predict_path_of(request))
        except StarletteHTTPException as exc:
            response = await scope["app"].exception_handlers[StarletteHTTPException](request, exc)
        await response(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body, and whether it was cut short (the client went away): a cut-short body is FastAPI's to refuse."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then whatever the client sends next."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        if more:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
