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
    # Micro-batching: wait at most this long for more requests before running a batch.
    batch_window_ms: float = 2.0
    max_batch_size: int = 64
    metrics_port: int = 0  # 0 = no Prometheus endpoint for this process


@lru_cache
def get_settings() -> InferenceSettings:
    return InferenceSettings()
