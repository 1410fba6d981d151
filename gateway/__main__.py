"""`python -m gateway`: serve the gateway with uvicorn on the configured host and port."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
