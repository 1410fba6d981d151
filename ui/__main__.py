"""`python -m ui`: start the Streamlit app headless, usage statistics off, on the configured host and port."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from shared.cli import parse_service_args
from shared.logging_setup import configure_logging, stop_logging
from ui.settings import get_settings

log = logging.getLogger(__name__)
APP = Path(__file__).with_name("app.py")


def streamlit_args(host: str, port: int) -> list[str]:
    # Without `headless` Streamlit asks for an email on stdin and exits in CI; the file watcher is for editing only.
    return [
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        # Readers of this app do not deploy it: no "Deploy" button, no developer menu.
        "--client.toolbarMode",
        "viewer",
        "--server.address",
        host,
        "--server.port",
        str(port),
    ]


DESCRIPTION = """\
Starts the Streamlit web UI, a thin client of the gateway: predict and flag, batch-score, watch alerts, compare
models, queue training jobs."""

EPILOG = """\
Settings come from the environment, e.g. GATEWAY_URL, HOST, PORT, LOG_LEVEL (all of them: docs/settings.md)."""


def main(argv: list[str] | None = None) -> None:
    parse_service_args("python -m ui", DESCRIPTION, EPILOG, argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    log.info("ui starting url=http://%s:%s gateway=%s", settings.host, settings.port, settings.gateway_url)
    args = streamlit_args(settings.host, settings.port)
    stop_logging()  # exec replaces the process: what is still queued is written first
    # Replace this process: signals reach Streamlit directly and no idle parent is left behind.
    os.execv(sys.executable, [sys.executable, "-m", *args])


if __name__ == "__main__":
    main()
