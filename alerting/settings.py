"""Alerting settings, from the environment: the alert rule, where mail goes, and the stream consumer's identity."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.settings import ServiceSettings


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

    # Where a report's "open the MLflow run" links point; the tracking URI when unset.
    mlflow_ui_url: str | None = None
    mlflow_timeout_s: float = 3.0

    consumer_group: str = "alerting"
    consumer_name: str = Field(default_factory=lambda: f"alerting-{socket.gethostname()}")
    # Where a consumer group created now starts: "0" reads the stream's whole history, "$" only new events.
    group_start_id: Literal["0", "$"] = "0"
    read_block_ms: int = Field(500, ge=10)
    read_count: int = Field(100, ge=1)
    heartbeat_ttl_s: int = 10
    # Prometheus /metrics of this process (events read, reports created and sent, failed sends); 0 = none.
    metrics_port: int = 0

    @field_validator("mail_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def delivery(self) -> Literal["smtp", "outbox"]:
        return "smtp" if self.smtp_host else "outbox"

    @property
    def run_link_base(self) -> str:
        return (self.mlflow_ui_url or self.mlflow_tracking_uri).rstrip("/")

    def secrets_to_check(self) -> dict[str, SecretStr | None]:
        return {"smtp_password": self.smtp_password} if self.smtp_user else {}


@lru_cache
def get_settings() -> AlertingSettings:
    return AlertingSettings()
