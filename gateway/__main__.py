"""`python -m gateway`: serve the gateway with uvicorn on the configured host and port."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError

from gateway.app import create_app
from gateway.settings import get_settings


def _refusal(exc: ValidationError | SettingsError) -> str:
    if isinstance(exc, SettingsError):
        return str(exc)
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {str(error['msg']).removeprefix('Value error, ')}"
        for error in exc.errors()
    )


def main() -> None:
    try:
        settings = get_settings()
    except (ValidationError, SettingsError) as exc:
        # One line an operator can act on, instead of a traceback.
        sys.exit(f"gateway refuses to start: {_refusal(exc)}")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
