"""Training worker settings, from the environment."""

from __future__ import annotations

from functools import lru_cache

from shared.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    service_name: str = "training-worker"
    experiment_name: str = "air-paradis-sentiment"
    # The BERT family's base model: DistilBERT where a path or hub is reachable, the bundled MiniLM otherwise.
    bert_model: str = "bundled-minilm"
    # S3/MinIO artifact store: read by MLflow from MLFLOW_S3_ENDPOINT_URL / AWS_* when configured.
    mlflow_s3_endpoint_url: str | None = None
    training_queue: str = "training"
    # Retraining never waits forever on a stuck job: Celery kills it past this limit and it ends as failed.
    job_time_limit_s: int = 6 * 3600
    # A running job's lease expires this long after its worker died; the job is then re-queued or failed.
    job_lease_ttl_s: int = 30
    # How often each training worker looks for jobs whose worker died.
    recovery_interval_s: float = 15.0


@lru_cache
def get_settings() -> TrainingSettings:
    return TrainingSettings()
