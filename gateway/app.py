"""The gateway's app factory: middleware, routes, and what requests share, built once in `lifespan`: the Redis and
Celery clients, the stores and the predict path."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import metrics
from gateway.middleware import AccessMiddleware, BodySizeLimitMiddleware
from gateway.predict_path import PredictPath
from gateway.routes import (
    admin,
    alerts,
    feedback,
    health,
    model_admin,
    models,
    predict,
    predictions,
    retraining_policy,
    stats,
)
from gateway.settings import GatewaySettings, get_settings
from shared.celery_config import make_celery
from shared.feedback import FeedbackStore
from shared.heap import freeze_long_lived
from shared.jobs import JobStore
from shared.logging_setup import configure_logging
from shared.prediction_log import PredictionLog
from shared.redis_client import connect, connect_async
from shared.version import package_version

log = logging.getLogger(__name__)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    settings.limit_mlflow_requests()  # GET /models must answer 503 in seconds when the registry is down

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.redis = connect(settings.redis_url)
        async_redis = connect_async(settings.redis_url)
        app.state.predict_path = PredictPath(settings, async_redis)
        app.state.celery = make_celery("gateway", settings.redis_url)
        app.state.prediction_log = PredictionLog(settings.prediction_log_url)
        app.state.prediction_log.ensure_schema()
        app.state.feedback_store = FeedbackStore(
            app.state.redis, app.state.prediction_log.get, settings.prediction_log_stream_maxlen
        )
        app.state.job_store = JobStore(app.state.redis)
        pause_ms = freeze_long_lived()
        log.info(
            "gateway started environment=%s redis=%s heap_freeze_ms=%.0f",
            settings.environment,
            settings.redis_url.split("@")[-1],
            pause_ms,
        )
        yield
        await app.state.predict_path.close()
        await async_redis.aclose()
        app.state.redis.close()
        app.state.prediction_log.close()

    app = FastAPI(
        title="Air Paradis tweet sentiment",
        version=package_version(),
        description="Predict the sentiment of tweets, flag wrong predictions, queue retraining.",
        lifespan=lifespan,
        # The gateway reports through Prometheus (/metrics) and its access log; FastAPI's own OpenTelemetry layer
        # would otherwise look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    routers = (health, metrics, predict, feedback, alerts, admin, retraining_policy, model_admin, models, stats)
    for routes in (*routers, predictions):
        app.include_router(routes.router)
    # Innermost of the middleware: CORS, the body-size limit, request ids and metrics apply to it as to any route.
    app.add_middleware(predict.PredictShortcut)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessMiddleware)
    _document_body_errors(app, settings.max_body_bytes)
    return app


def _readable_errors(errors: list[dict]) -> list[dict[str, object]]:
    readable = []
    for error in errors:
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        readable.append({"loc": list(error.get("loc", ())), "msg": message, "type": error.get("type", "")})
    return readable


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _readable_errors(exc.errors())
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors)
    return JSONResponse({"detail": errors, "message": summary}, status_code=422)


# FastAPI's answer when a body cannot even be decoded (invalid UTF-8, nesting deeper than the JSON parser allows).
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        message = (
            "the body could not be decoded: send UTF-8 JSON, nested at most a few levels, "
            'such as {"text": "your tweet"}'
        )
        return JSONResponse({"detail": message, "message": message}, status_code=400)
    return await http_exception_handler(request, exc)  # headers (Retry-After, WWW-Authenticate) kept


def _document_body_errors(app: FastAPI, max_body_bytes: int) -> None:
    """Every operation that takes a body can answer 400 (undecodable) and 413 (too large): say so in the OpenAPI,
    so that clients and the schema-driven tests know them."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            for path_item in build().get("paths", {}).values():
                for operation in path_item.values():
                    if isinstance(operation, dict) and "requestBody" in operation:
                        responses = operation.setdefault("responses", {})
                        responses.setdefault("400", {"description": "The body is not UTF-8 JSON or nests too deeply."})
                        responses.setdefault("413", {"description": f"The body is over {max_body_bytes} bytes."})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
