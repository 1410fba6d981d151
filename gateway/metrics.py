"""Prometheus metrics of the gateway: requests and latency by route and status, and the predict path's waits.

`GET /metrics` serves them in the Prometheus text format. Routes are labelled by their template
(`/models/{name}`), never by the raw path, so that label values stay few; unmatched paths count as "unmatched".
With GATEWAY_PROCESSES above 1 (gateway/server_processes.py), PROMETHEUS_MULTIPROC_DIR is set for every process
(prometheus-client's multiprocess mode): whichever process answers /metrics reports the sums over all of them.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REQUESTS = Counter("gateway_requests_total", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "HTTP request latency, from the request reaching the app to the last byte of the answer.",
    ["method", "route", "status"],
    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COALESCE_WAIT = Histogram(
    "gateway_predict_coalesce_wait_seconds",
    "Time a /predict request waited in the gateway's coalescer for its call to leave.",
    buckets=(0.00005, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
)
BATCH_TWEETS = Histogram(
    "gateway_predict_call_tweets",
    "Tweets per prediction call sent on the call stream (several requests coalesced).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
INFERENCE_ROUND_TRIP = Histogram(
    "gateway_inference_round_trip_seconds",
    "From sending a prediction call to its answer arriving: wait on the call stream + worker time + reply delivery.",
    ["outcome"],
    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0),
)

router = APIRouter(tags=["health"])
# Children of REQUESTS and LATENCY by (method, route, status): `labels()` looks them up under a lock on every call.
_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


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


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered HTTP request (called by gateway.middleware.AccessMiddleware)."""
    key = (method, route, status)
    series = _request_series.get(key)
    if series is None:
        labels = (method, route, str(status))
        series = _request_series[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    series[0].inc()
    series[1].observe(seconds)
