"""`python -m alerting`: the alerting process; stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading

from alerting.mailer import Mailer, OutboxMailer, SmtpMailer
from alerting.model_links import ModelLinks
from alerting.retraining import ReportRetrainer
from alerting.service import AlertingService
from alerting.settings import AlertingSettings, get_settings
from shared.celery_config import make_celery
from shared.cli import parse_service_args
from shared.logging_setup import configure_logging, kv, stop_logging
from shared.metrics_server import serve_metrics
from shared.redis_client import connect

log = logging.getLogger("alerting")


def make_mailer(settings: AlertingSettings) -> Mailer:
    if not settings.smtp_host:
        return OutboxMailer(settings.outbox_dir)
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.mail_from,
        settings.mail_to,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout_s=settings.smtp_timeout_s,
    )


DESCRIPTION = """\
Reads misprediction events from the Redis Stream `events:mispredictions` (consumer group `alerting`) and, when
ALERT_THRESHOLD flags fall within ALERT_WINDOW_S, emails one report over SMTP (or writes it to OUTBOX_DIR when
SMTP_HOST is unset)."""

EPILOG = """\
Settings come from the environment, e.g. REDIS_URL, SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, MAIL_FROM,
MAIL_TO, ALERT_THRESHOLD, ALERT_WINDOW_S, LOG_LEVEL (all of them: docs/settings.md)."""


def main(argv: list[str] | None = None) -> int:
    parse_service_args("python -m alerting", DESCRIPTION, EPILOG, argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Blocking reads must return before the next one: a socket timeout longer than the block time.
    client = connect(settings.redis_url, socket_timeout_s=settings.read_block_ms / 1000 + 5)
    mailer = make_mailer(settings)
    links = ModelLinks(settings.mlflow_tracking_uri, settings.mlflow_link_base, settings.mlflow_http_timeout_s)
    serve_metrics(settings.metrics_port)
    log.info(
        "alerting starting %s",
        kv(
            redis=settings.redis_url.split("@")[-1],
            delivery=mailer.kind,
            group=settings.consumer_group,
            retraining=settings.retraining_policy,
        ),
    )
    retrainer = ReportRetrainer(settings, client, make_celery("alerting", settings.redis_url))
    AlertingService(settings, client, mailer, links, retrainer).run(stop)
    log.info("alerting stopped")
    stop_logging()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
