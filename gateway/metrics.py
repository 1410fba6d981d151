"""Prometheus metrics of the gateway: requests and latency by route and status, and the predict path's queue waits.

`GET /metrics` serves them in the Prometheus text format. Routes are labelled by their template
(`/models/{name}`), never by the raw path, so that label values stay few; unmatched paths count as "unmatched".
With several gateway processes behind one port, run each with PROMETHEUS_MULTIPROC_DIR set (prometheus-client's
multiprocess mode) or scrape each process on its own port.
"""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("gateway_requests_total", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "HTTP request latency, from the request reaching the app to the last byte of the answer.",
    ["method", "route", "status"],
    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COALESCE_WAIT = Histogram(
    "gateway_predict_queue_wait_seconds",
    "Time a /predict request waited in the gateway for its batch to leave (micro-batching queue wait).",
    buckets=(0.00005, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
)
BATCH_TWEETS = Histogram(
    "gateway_predict_batch_tweets",
    "Tweets per task sent to the inference queue (several requests coalesced).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
INFERENCE_ROUND_TRIP = Histogram(
    "gateway_inference_round_trip_seconds",
    "From sending a task to its answer arriving: broker queue wait + worker time + result delivery.",
    ["outcome"],
    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0),
)

router = APIRouter(tags=["health"])


def observe_coalesced(wait_s: float, batch_tweets: int) -> None:
    COALESCE_WAIT.observe(wait_s)
    BATCH_TWEETS.observe(batch_tweets)


def _registry() -> CollectorRegistry | None:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return None


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    registry = _registry()
    payload = generate_latest(registry) if registry is not None else generate_latest()
    return Response(payload, media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status (pure ASGI: no extra task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            labels = (scope.get("method", ""), template, str(status_code))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)


def mount(app: FastAPI) -> None:
    """Adds `/metrics` and the request metrics middleware to the app."""
    app.include_router(router)
    app.add_middleware(MetricsMiddleware)
