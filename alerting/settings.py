"""Alerting settings, from the environment: the alert rule, where mail goes, and the stream consumer's identity."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.families import TrainingFamily
from shared.schemas.retraining import RetrainingPolicy
from shared.settings import ServiceSettings
from shared.training_params import validate_params


class AlertingSettings(ServiceSettings):
    service_name: str = "alerting"

    # The rule: `alert_threshold` mispredictions within `alert_window_s` send one report; after a report no other
    # goes out for `alert_cooldown_s` (events in the meantime wait in the window and join the next report).
    alert_threshold: int = Field(3, ge=1)
    alert_window_s: float = Field(300.0, gt=0)
    alert_cooldown_s: float = Field(60.0, ge=0)

    # SMTP; an empty host writes each report as an .eml file to `outbox_dir` instead (the embedded default).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = 10.0
    mail_from: str = "alerts@air-paradis.local"
    mail_to: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["mlops@air-paradis.local"])
    outbox_dir: Path = Path(".local/outbox")

    # A failed send is retried after retry_initial_s, doubling up to retry_max_s, for as long as it takes.
    retry_initial_s: float = Field(2.0, gt=0)
    retry_max_s: float = Field(300.0, gt=0)

    # A report looks up its models' runs in MLflow; a slow registry must not hold the email long.
    mlflow_http_timeout_s: int = Field(3, ge=1)

    consumer_group: str = "alerting"
    consumer_name: str = Field(default_factory=lambda: f"alerting-{socket.gethostname()}")
    # Where a consumer group created now starts: "0" reads the stream's whole history, "$" only new events.
    group_start_id: Literal["0", "$"] = "0"
    read_block_ms: int = Field(500, ge=10)
    read_count: int = Field(100, ge=1)
    heartbeat_ttl_s: int = 10
    # Prometheus /metrics of this process (events read, reports created and sent, failed sends); 0 = none.
    metrics_port: int = 0

    # The retraining policy (docs/loop.md): "on" lets a report queue a training job of `retraining_family` with
    # `retraining_params` (JSON) and the analysts' corrections included, at most one per `retraining_min_interval_h`
    # hours, and only once `retraining_min_new_corrections` corrections came in since the last automatic job.
    # Admins pause and resume it with POST /admin/retraining-policy.
    retraining_policy: Literal["off", "on"] = "off"
    retraining_min_interval_h: float = Field(24.0, ge=0)
    retraining_min_new_corrections: int = Field(20, ge=0)
    retraining_family: TrainingFamily = "lstm"
    retraining_params: dict[str, Any] = Field(default_factory=dict)
    # The queue caps an automatic job respects, as the gateway's MAX_QUEUED_JOBS_PER_FAMILY and MAX_QUEUED_JOBS.
    max_queued_jobs_per_family: int = Field(10, ge=1)
    max_queued_jobs: int = Field(20, ge=1)
    # Drift watch (docs/loop.md): a drift report goes out when a served version's PSI of probability_positive against
    # its test split reaches `drift_psi_threshold` over at least `drift_min_predictions` tweets of the workers'
    # window; then none for that version for `drift_report_cooldown_s`. Checked every `drift_check_interval_s`.
    drift_psi_threshold: float = Field(0.25, gt=0)
    drift_min_predictions: int = Field(200, ge=1)
    drift_report_cooldown_s: float = Field(6 * 3600.0, ge=0)
    drift_check_interval_s: float = Field(30.0, gt=0)
    # Where a report's link to its training job points (the job is GET <gateway_url>/admin/training-jobs/<id>).
    gateway_url: str = "http://127.0.0.1:8000"

    @field_validator("mail_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _valid_retraining_params(self) -> AlertingSettings:
        # Refused at start, naming the parameter, rather than at the first report; the feedback always goes in.
        params = {**self.retraining_params, "include_feedback": True}
        try:
            checked = validate_params(self.retraining_family, params)
        except ValueError as exc:
            raise ValueError(f"RETRAINING_PARAMS is not valid for the {self.retraining_family} family: {exc}") from None
        self.retraining_params = checked.model_dump(mode="json", exclude_defaults=True) | {"include_feedback": True}
        return self

    @property
    def retraining(self) -> RetrainingPolicy:
        return RetrainingPolicy(
            enabled=self.retraining_policy == "on",
            min_interval_h=self.retraining_min_interval_h,
            min_new_corrections=self.retraining_min_new_corrections,
            family=self.retraining_family,
            params=self.retraining_params,
        )

    @property
    def delivery(self) -> Literal["smtp", "outbox"]:
        return "smtp" if self.smtp_host else "outbox"

    def secrets_to_check(self) -> dict[str, SecretStr | None]:
        return {"smtp_password": self.smtp_password} if self.smtp_user else {}


@lru_cache
def get_settings() -> AlertingSettings:
    return AlertingSettings()
