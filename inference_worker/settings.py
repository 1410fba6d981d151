"""Inference worker settings, from the environment."""

from __future__ import annotations

from functools import lru_cache

from shared.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    service_name: str = "inference-worker"
    inference_queue: str = "inference"
    # Threads let one process hold many in-flight requests (model calls release the GIL) with one model copy.
    worker_pool: str = "threads"
    worker_concurrency: int = 8
    heartbeat_interval_s: float = 2.0
    # Fallback for a missed `model.promoted` event: how often the champion alias is re-read.
    alias_poll_interval_s: float = 30.0
    # Registry calls fail fast when MLflow is down (the last good model keeps serving meanwhile).
    registry_max_retries: int = 2
    registry_timeout_s: int = 30
    # Micro-batching: wait at most this long for more requests before running a batch (only while other
    # tasks are known to be on their way: a lone request never waits), and at most this many tweets per call.
    batch_window_ms: float = 2.0
    max_batch_size: int = 64
    # A task gives up on the batcher after this long (the gateway has long stopped waiting by then).
    task_timeout_s: float = 60.0
    # Prometheus /metrics of this process; 0 = none. Several processes on one host take the next free ports.
    metrics_port: int = 0


@lru_cache
def get_settings() -> InferenceSettings:
    return InferenceSettings()
