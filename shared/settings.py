"""The settings every service shares; each service subclasses `ServiceSettings` with its own fields."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Defaults that must never survive outside a developer's laptop.
INSECURE_DEFAULT_KEYS = {"", "dev-analyst-key", "dev-admin-key", "dev-model-signing-key", "change-me"}


class ServiceSettings(BaseSettings):
    """Connection and registry settings read from the environment (one instance per process)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: Literal["local", "test", "production"] = "local"
    service_name: str = "air-paradis"
    log_level: str = "INFO"
    # `json`: one JSON object a line (time, level, logger, service, pid, message and its key=value context as
    # fields) for log collectors; `text`: the same as one readable line.
    log_format: Literal["text", "json"] = "text"

    redis_url: str = "redis://127.0.0.1:6379/0"
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    # Where a person's browser opens the MLflow UI (links to runs): it differs from `mlflow_tracking_uri`, which
    # services reach it by, inside Compose.
    mlflow_ui_url: str | None = None
    # Each request of MLflow's client, and how often it is retried: its own defaults retry a dead server for minutes.
    mlflow_http_timeout_s: int = Field(10, ge=1)
    mlflow_http_max_retries: int = Field(1, ge=0)

    lstm_model_name: str = "air-paradis-lstm"
    classical_model_name: str = "air-paradis-classical"
    bert_model_name: str = "air-paradis-bert"
    champion_alias: str = "champion"

    # How long Redis keeps a prediction's record for fast feedback, in hours: every answered tweet holds Redis memory
    # this long (docs/reliability.md, "Abuse and Redis's memory budget"); older ones are found in the prediction log.
    prediction_ttl_hours: float = Field(6.0, gt=0)
    # The prediction log's database (shared/prediction_log/): SQLite on the local disk by default, PostgreSQL
    # (`postgresql+psycopg://user:password@host/db`) in Compose. The log writer writes it; gateway and training read it.
    prediction_log_url: str = "sqlite:///.local/prediction-log.db"
    # Entries the prediction log stream keeps at most (approximately) while no log writer drains it; 0 turns the
    # log off (nothing is appended). Each entry holds one worker read's predictions or one feedback verdict.
    prediction_log_stream_maxlen: int = Field(100_000, ge=0)

    @property
    def mlflow_link_base(self) -> str:
        """The base of links to MLflow runs that a person opens."""
        return (self.mlflow_ui_url or self.mlflow_tracking_uri).rstrip("/")

    def limit_mlflow_requests(self) -> None:
        """Bound MLflow's client in this process by these settings; its own MLFLOW_HTTP_REQUEST_* variables, where
        set, win."""
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(self.mlflow_http_timeout_s))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(self.mlflow_http_max_retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")

    @property
    def prediction_ttl_s(self) -> int:
        return max(1, round(self.prediction_ttl_hours * 3600))

    def secrets_to_check(self) -> dict[str, SecretStr | None]:
        """Secrets that must be set to a non-default value outside a local environment."""
        return {}

    @model_validator(mode="after")
    def _refuse_default_secrets_outside_local(self) -> ServiceSettings:
        if self.environment in ("local", "test"):
            return self
        weak = [
            name
            for name, secret in self.secrets_to_check().items()
            if secret is None or secret.get_secret_value() in INSECURE_DEFAULT_KEYS
        ]
        if weak:
            raise ValueError(
                f"refusing to start in {self.environment!r}: set these secrets to non-default values: "
                + ", ".join(sorted(n.upper() for n in weak))
            )
        return self

    def registered_model_names(self) -> dict[str, str]:
        """Family -> registered model name: its `<FAMILY>_MODEL_NAME` setting where one exists, else the default."""
        from shared.families import FAMILIES

        return {name: getattr(self, f"{name}_model_name", spec.registered_model) for name, spec in FAMILIES.items()}


class ModelSigningSettings(BaseSettings):
    """The key training signs registered versions with and inference workers check them by (never the gateway's)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    model_signing_key: SecretStr = SecretStr("dev-model-signing-key")
