"""Inference worker settings, from the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr

from shared.settings import ModelSigningSettings, ServiceSettings


class InferenceSettings(ServiceSettings, ModelSigningSettings):
    service_name: str = "inference-worker"
    heartbeat_interval_s: float = 2.0
    # Fallback for a missed `model.promoted` event: how often the champion alias is re-read.
    alias_poll_interval_s: float = 30.0
    # Registry calls fail fast when MLflow is down (the last good model keeps serving meanwhile), yet leave a
    # model's download time to finish.
    mlflow_http_timeout_s: int = Field(30, ge=1)
    mlflow_http_max_retries: int = Field(2, ge=0)
    # Threads reading the gateway's prediction calls (inference_worker/call_consumer.py). Each read takes every
    # call waiting, up to `max_calls_per_read`: that is the micro-batch, and a lone call never waits. One: a second
    # thread splits what is waiting into smaller reads that contend for the GIL; processes, not threads, add cores.
    call_consumers: int = Field(1, ge=1)
    max_calls_per_read: int = 64
    # A call read by a worker that then died is taken over by a live one once it has been pending this long.
    call_claim_after_s: float = 5.0
    # Tweets per model call at most; a read with more runs as several calls on the same model version.
    max_batch_size: int = 64
    # Prometheus /metrics of this process; 0 = none. Several processes on one host take the next free ports.
    metrics_port: int = 0
    # On SIGTERM, how long a read in progress may take to be answered before the process exits anyway.
    shutdown_grace_s: float = 5.0
    # Drift statistics (inference_worker/drift.py) cover the tweets answered within this long.
    drift_window_s: float = Field(3600.0, ge=60)
    # Shadow scoring of a `@challenger` (inference_worker/shadow.py): the share of model calls it scores as well, how
    # many sampled calls may wait for it, and the CPU it may use (seconds per second); past either, a call is skipped.
    shadow_sample_share: float = Field(0.1, ge=0, le=1)
    shadow_queue_max_calls: int = Field(8, ge=1)
    shadow_cpu_share: float = Field(0.25, gt=0, le=4)

    def secrets_to_check(self) -> dict[str, SecretStr | None]:
        return {**super().secrets_to_check(), "model_signing_key": self.model_signing_key}


@lru_cache
def get_settings() -> InferenceSettings:
    return InferenceSettings()
