"""Prometheus metrics of one inference worker process: batch sizes, model compute time, serving version, reloads.

Each serving process exposes its own `/metrics` with `prometheus_client.start_http_server` when
`METRICS_PORT` > 0. Several processes on one host (`--scale`, or a prefork pool) cannot share a port: each
binds the first free port from `METRICS_PORT` upward (at most `PORT_SEARCH` tries) and publishes the port
it got in its Redis heartbeat, so a scraper (or a person) can find every process.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from shared.logging_setup import kv

log = logging.getLogger(__name__)

PORT_SEARCH = 16

BATCH_SIZE = Histogram(
    "inference_batch_size",
    "Tweets per model call (the calls of one read, combined).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
MODEL_COMPUTE_SECONDS = Histogram(
    "inference_model_compute_seconds",
    "Wall time of one model call (preprocessing + encoder + compiled model) over a batch.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
QUEUE_WAIT_SECONDS = Histogram(
    "inference_queue_wait_seconds",
    "From the gateway sending a call to this worker reading it (stream wait).",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
CALLS_EXPIRED = Counter("inference_calls_expired_total", "Calls read after their caller's deadline, dropped.")
PREDICTIONS = Counter("inference_predictions_total", "Tweets answered, by label given.", ["model_version", "label"])
MODEL_VERSION = Gauge(
    "inference_model_version_info", "1 for the model version this process serves now.", ["model_name", "version"]
)
RELOADS = Counter("inference_model_reloads_total", "Models swapped in (the first load included).")
REFUSED = Counter("inference_model_refused_total", "Candidate versions refused (failed to load or smoke test).")


def count_predictions(model_version: str, labels: Iterable[str]) -> None:
    """One batch's answers, by label: the label mix a dashboard compares across versions."""
    for label, count in collections.Counter(labels).items():
        PREDICTIONS.labels(model_version=model_version, label=label).inc(count)


def set_serving_version(model_name: str, version: str, previous: str | None) -> None:
    if previous is not None and previous != version:
        MODEL_VERSION.labels(model_name=model_name, version=previous).set(0)
    MODEL_VERSION.labels(model_name=model_name, version=version).set(1)


def start_metrics_server(first_port: int) -> int | None:
    """Serve /metrics on the first free port from `first_port`; None when disabled (0) or no port was free."""
    if first_port <= 0:
        return None
    for port in range(first_port, first_port + PORT_SEARCH):
        try:
            start_http_server(port, addr="0.0.0.0")
        except OSError:
            continue
        log.info("metrics endpoint %s", kv(port=port))
        return port
    log.warning("no free metrics port %s", kv(first=first_port, tried=PORT_SEARCH))
    return None
