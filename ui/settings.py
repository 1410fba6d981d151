"""UI settings, from the environment: where the gateway and MLflow are, and how long to wait for them."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


class UiSettings(ServiceSettings):
    service_name: str = "ui"
    host: str = "127.0.0.1"
    # UI_PORT; PORT too, which platforms such as Cloud Run set for the one process of a container.
    port: int = Field(8501, validation_alias=AliasChoices("ui_port", "port"))
    # The UI talks to the gateway only; this is the base URL of its HTTP API as the UI's server reaches it.
    gateway_url: str = "http://127.0.0.1:8000"
    request_timeout_s: float = Field(30.0, gt=0)
    # The liveness probe behind the "gateway down" banner must not hold every page for the full request timeout.
    health_timeout_s: float = Field(3.0, gt=0)
    batch_chunk_size: int = Field(1000, ge=1, le=1000)
    batch_max_rows: int = Field(100_000, ge=1)
    # The alert rule drawn on the alerts timeline when the gateway does not say which one the alerting service uses.
    # UI_ALERT_THRESHOLD and UI_ALERT_WINDOW_S; alerting's own ALERT_THRESHOLD and ALERT_WINDOW_S where those are not
    # set, so that a stack configured once draws the rule it runs.
    alert_threshold: int = Field(3, ge=1, validation_alias=AliasChoices("ui_alert_threshold", "alert_threshold"))
    alert_window_s: int = Field(300, ge=1, validation_alias=AliasChoices("ui_alert_window_s", "alert_window_s"))
    jobs_refresh_s: float = Field(2.0, gt=0)
    # The airlines the trend chart offers to compare (keys of the log's airline column; any other can be typed).
    trend_airlines: list[str] = Field(
        default_factory=lambda: ["airparadis", "united", "american", "delta", "southwest", "jetblue", "usairways"]
    )
    # Predictions per page of the review queue.
    review_page_size: int = Field(20, ge=1, le=500)


def get_settings() -> UiSettings:
    """Read on every page run (cheap), so a changed environment needs no restart of a test process."""
    return UiSettings()
