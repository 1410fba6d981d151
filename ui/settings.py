"""UI settings, from the environment: where the gateway and MLflow are, and how long to wait for them."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class UiSettings(ServiceSettings):
    service_name: str = "ui"
    host: str = "127.0.0.1"
    port: int = 8501
    # The UI talks to the gateway only; this is the base URL of its HTTP API as the UI's server reaches it.
    gateway_url: str = "http://127.0.0.1:8000"
    # Where a person's browser opens the MLflow UI (links to runs); the server-side artifact fetch uses
    # `mlflow_tracking_uri`, which differs from this one inside Compose.
    mlflow_ui_url: str | None = None
    request_timeout_s: float = Field(30.0, gt=0)
    # The liveness probe behind the "gateway down" banner must not hold every page for the full request timeout.
    health_timeout_s: float = Field(3.0, gt=0)
    batch_chunk_size: int = Field(1000, ge=1, le=1000)
    batch_max_rows: int = Field(100_000, ge=1)
    # The alert rule drawn on the alerts timeline when the gateway does not say which one the alerting service uses.
    alert_threshold: int = Field(3, ge=1)
    alert_window_s: int = Field(300, ge=1)
    jobs_refresh_s: float = Field(2.0, gt=0)

    @property
    def mlflow_link_base(self) -> str:
        return (self.mlflow_ui_url or self.mlflow_tracking_uri).rstrip("/")


def get_settings() -> UiSettings:
    """Read on every page run (cheap), so a changed environment needs no restart of a test process."""
    return UiSettings()
