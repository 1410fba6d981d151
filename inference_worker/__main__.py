"""`python -m inference_worker`: one serving process; stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading

from pydantic import ValidationError

from inference_worker.settings import get_settings
from shared.cli import parse_service_args, settings_problems
from shared.logging_setup import configure_logging, kv, stop_logging

log = logging.getLogger("inference_worker")

DESCRIPTION = """\
Serves the registry's champion LSTM to the gateway: loads it from MLflow, answers the prediction calls of the
Redis Stream `inference:calls` (consumer group `inference-workers`), publishes a heartbeat that the gateway's
/ready reads, and swaps models when one is promoted. Start it N times to scale out; every process joins the
same consumer group. Bulk scoring from Python goes through the gateway's POST /predict/batch."""

EPILOG = """\
Settings come from the environment, e.g. REDIS_URL, MLFLOW_TRACKING_URI, LSTM_MODEL_NAME, CHAMPION_ALIAS,
CALL_CONSUMERS, MAX_BATCH_SIZE, METRICS_PORT, SHUTDOWN_GRACE_S, MODEL_SIGNING_KEY, LOG_LEVEL (all of them:
docs/settings.md)."""


def main(argv: list[str] | None = None) -> int:
    parse_service_args("python -m inference_worker", DESCRIPTION, EPILOG, argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        raise SystemExit(f"inference worker: invalid settings: {settings_problems(exc)}") from None
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    settings.limit_mlflow_requests()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Imported here so that --help and a settings error answer without loading MLflow and the model runtimes.
    from inference_worker.runtime import WorkerRuntime

    runtime = WorkerRuntime(settings)
    log.info(
        "inference worker starting %s",
        kv(
            worker=runtime.worker_id,
            redis=settings.redis_url.split("@")[-1],
            model=settings.lstm_model_name,
            alias=settings.champion_alias,
            consumers=settings.call_consumers,
        ),
    )
    try:
        runtime.start()
        log.info("inference worker serving %s", kv(worker=runtime.worker_id, **runtime.store.describe()))
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(1.0):
            pass
    finally:
        log.info("inference worker stopping %s", kv(worker=runtime.worker_id))
        runtime.stop()
    log.info("inference worker stopped %s", kv(worker=runtime.worker_id))
    stop_logging()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
