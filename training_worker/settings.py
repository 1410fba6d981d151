"""Training worker settings, from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr

from shared.promotion_gate import PromotionPolicySettings
from shared.settings import ModelSigningSettings, ServiceSettings


class TrainingSettings(ServiceSettings, ModelSigningSettings, PromotionPolicySettings):
    service_name: str = "training-worker"
    # Precision of "positive" each version's threshold is chosen for on validation (the business KPI).
    target_precision: float = 0.90
    experiment_name: str = "air-paradis-sentiment"
    # The BERT family's base model: DistilBERT where a path or hub is reachable, the bundled MiniLM otherwise.
    bert_model: str = "bundled-minilm"
    # Where base models assembled on first use (the bundled MPNet) are unpacked.
    model_cache_dir: str = str(Path.home() / ".cache" / "air-paradis")
    # S3/MinIO artifact store: read by MLflow from MLFLOW_S3_ENDPOINT_URL / AWS_* when configured.
    mlflow_s3_endpoint_url: str | None = None
    training_queue: str = "training"
    # The worker's nice value (0-19), and its session's when it leads one (shared/cpu_priority.py): a retraining job
    # on the machine that serves takes the CPU the request path leaves; 0 keeps the scheduler's default.
    training_worker_nice: int = Field(10, ge=0, le=19)
    # Uploads of a whole model (BERT's weights) take minutes: MLflow's requests may take that long here.
    mlflow_http_timeout_s: int = Field(120, ge=1)
    mlflow_http_max_retries: int = Field(3, ge=0)
    # Prometheus /metrics of `python -m training_worker worker`, served by its main process; 0 = none.
    metrics_port: int = 0
    # Retraining never waits forever on a stuck job: Celery kills it past this limit and it ends as failed.
    job_time_limit_s: int = 6 * 3600
    # A running job's lease expires this long after its worker died; the job is then re-queued or failed.
    job_lease_ttl_s: int = 30
    # How often each training worker looks for jobs whose worker died.
    recovery_interval_s: float = 15.0
    # A job queued this long whose message is in neither the queue nor a worker's hands is sent again.
    queued_job_resend_after_s: float = 300.0
    # Job parameters name data files (`dataset`, `glove_path`) relative to this folder, and nothing outside it.
    data_dir: Path = Path("/data")
    # Larger files are refused before they are read (a dataset CSV, a GloVe text file).
    max_dataset_bytes: int = 2 * 1024**3
    max_glove_bytes: int = 6 * 1024**3

    def secrets_to_check(self) -> dict[str, SecretStr | None]:
        return {**super().secrets_to_check(), "model_signing_key": self.model_signing_key}


@lru_cache
def get_settings() -> TrainingSettings:
    return TrainingSettings()
