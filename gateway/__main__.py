"""`python -m gateway`: serve the gateway with uvicorn on the configured host and port."""

from __future__ import annotations

import sys

from pydantic import ValidationError
from pydantic_settings import SettingsError

from gateway.app import create_app
from gateway.http_server import serve
from gateway.settings import get_settings
from shared.cli import parse_service_args, settings_problems


def _refusal(exc: ValidationError | SettingsError) -> str:
    if isinstance(exc, SettingsError):
        return str(exc)
    return settings_problems(exc)


DESCRIPTION = """\
Serves the HTTP API (POST /predict, /predict/batch, /feedback, GET /alerts, /models, /admin/training-jobs, /health,
/ready, /metrics) with uvicorn; predictions go to the inference workers over the Redis Stream `inference:calls`."""

EPILOG = """\
Settings come from the environment, e.g. HOST, PORT, REDIS_URL, MLFLOW_TRACKING_URI, API_KEYS or API_KEYS_FILE,
ANALYST_API_KEY, ADMIN_API_KEY, PREDICT_RATE_LIMIT_PER_MINUTE, LOG_LEVEL (all of them: docs/settings.md)."""


def main(argv: list[str] | None = None) -> None:
    parse_service_args("python -m gateway", DESCRIPTION, EPILOG, argv)
    try:
        settings = get_settings()
    except (ValidationError, SettingsError) as exc:
        # One line an operator can act on, instead of a traceback.
        sys.exit(f"gateway refuses to start: {_refusal(exc)}")
    serve(create_app, settings)


if __name__ == "__main__":
    main()
