"""`python -m log_writer`: the log writer process; stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading

from pydantic import ValidationError

from log_writer import metrics
from log_writer.settings import get_settings
from log_writer.writer import LogWriter
from shared.cli import parse_service_args, settings_problems
from shared.cpu_priority import lower_cpu_priority
from shared.logging_setup import configure_logging, kv
from shared.metrics_server import serve_metrics
from shared.prediction_log import PredictionLog
from shared.redis_client import connect

log = logging.getLogger("log_writer")

DESCRIPTION = """\
Moves answered predictions and feedback verdicts from the Redis Stream `prediction-log:entries` (consumer group
`log-writers`) into the prediction log database (PREDICTION_LOG_URL: SQLite or PostgreSQL), in batches, at least
once and idempotently; deletes rows past PREDICTION_LOG_RETENTION_DAYS."""

EPILOG = """\
Settings come from the environment, e.g. REDIS_URL, PREDICTION_LOG_URL, LOG_BATCH_ENTRIES, LOG_CLAIM_AFTER_S,
PREDICTION_LOG_RETENTION_DAYS, PREDICTION_LOG_EXPORT_DIR, LOG_WRITER_NICE, METRICS_PORT, LOG_LEVEL (all of them:
docs/settings.md)."""


def main(argv: list[str] | None = None) -> int:
    parse_service_args("python -m log_writer", DESCRIPTION, EPILOG, argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"log writer: refusing to start: {settings_problems(exc)}", file=sys.stderr)
        return 2
    # Before any thread starts (the log's own writer thread, the metrics server): each inherits it.
    priority = lower_cpu_priority(settings.log_writer_nice)
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve_metrics(settings.metrics_port)
    store = PredictionLog(settings.prediction_log_url)
    # The database may start after this process (Compose), or a gateway may be migrating it right now: retry.
    while not store.ensure_schema():
        metrics.WRITE_FAILURES.inc()
        if stop.wait(2.0):
            return 0
    # Blocking reads must return before the next one: a socket timeout longer than the block time.
    client = connect(settings.redis_url, socket_timeout_s=settings.log_read_block_ms / 1000 + 5)
    writer = LogWriter(client, store, settings, name=f"{socket.gethostname()}:{os.getpid()}")
    log.info(
        "log writer starting %s",
        kv(
            consumer=writer.name,
            redis=settings.redis_url.split("@")[-1],
            database=store.describe(),
            nice=priority.describe(),
        ),
    )
    writer.run(stop)
    store.close()
    log.info("log writer stopped %s", kv(consumer=writer.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
