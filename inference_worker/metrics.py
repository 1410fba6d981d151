"""Prometheus metrics of one inference worker process: batch sizes, model compute time, serving version, reloads.

Each serving process exposes its own `/metrics` with `prometheus_client.start_http_server` when
`METRICS_PORT` > 0. Several processes on one host (`--scale`, or a prefork pool) cannot share a port: each
binds the first free port from `METRICS_PORT` upward (at most `PORT_SEARCH` tries) and publishes the port
it got in its Redis heartbeat, so a scraper (or a person) can find every process.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from shared.logging_setup import kv
from shared.schemas.drift import DriftStats

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


# Drift over this process's rolling window (inference_worker/drift.py), per served version; the reference gauges hold
# the same statistic on the version's test split.
DRIFT_WINDOW_PREDICTIONS = Gauge(
    "inference_drift_window_predictions", "Tweets answered within the drift window.", ["model_version"]
)
DRIFT_OOV_SHARE = Gauge(
    "inference_drift_oov_share", "Share of served tokens outside the model's vocabulary.", ["model_version"]
)
DRIFT_POSITIVE_SHARE = Gauge(
    "inference_drift_positive_share", "Share of served tweets labelled positive.", ["model_version"]
)
DRIFT_MEAN_TEXT_CHARS = Gauge("inference_drift_mean_text_chars", "Mean length of served tweets.", ["model_version"])
DRIFT_PROBABILITY_PSI = Gauge(
    "inference_drift_probability_psi",
    "Population stability index of probability_positive against the version's test split.",
    ["model_version"],
)
DRIFT_REFERENCE_OOV_SHARE = Gauge(
    "inference_drift_reference_oov_share", "Out-of-vocabulary share on the version's test split.", ["model_version"]
)
DRIFT_REFERENCE_POSITIVE_SHARE = Gauge(
    "inference_drift_reference_positive_share", "Positive share on the version's test split.", ["model_version"]
)
_DRIFT_GAUGES = (
    DRIFT_WINDOW_PREDICTIONS,
    DRIFT_OOV_SHARE,
    DRIFT_POSITIVE_SHARE,
    DRIFT_MEAN_TEXT_CHARS,
    DRIFT_PROBABILITY_PSI,
    DRIFT_REFERENCE_OOV_SHARE,
    DRIFT_REFERENCE_POSITIVE_SHARE,
)


def set_drift(stats: DriftStats) -> None:
    """A statistic without a value (no reference, no tokens) is left out rather than reported as 0."""
    reference = stats.reference
    values = {
        DRIFT_WINDOW_PREDICTIONS: stats.predictions,
        DRIFT_OOV_SHARE: stats.oov_share,
        DRIFT_POSITIVE_SHARE: stats.positive_share,
        DRIFT_MEAN_TEXT_CHARS: stats.mean_text_chars,
        DRIFT_PROBABILITY_PSI: stats.psi,
        DRIFT_REFERENCE_OOV_SHARE: reference.oov_share if reference else None,
        DRIFT_REFERENCE_POSITIVE_SHARE: reference.positive_share if reference else None,
    }
    for gauge, value in values.items():
        if value is not None:
            gauge.labels(model_version=stats.model_version).set(value)


def clear_drift(model_version: str) -> None:
    for gauge in _DRIFT_GAUGES:
        with contextlib.suppress(KeyError):
            gauge.remove(model_version)


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
