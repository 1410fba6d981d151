"""The training worker's Celery app: queue `training`, one job at a time per process, never prefetching more."""

from __future__ import annotations

from shared.celery_config import TRAINING_QUEUE, make_celery
from shared.logging_setup import configure_logging
from training_worker.settings import get_settings

settings = get_settings()
configure_logging(settings.log_level)

app = make_celery(
    "training_worker",
    settings.redis_url,
    task_default_queue=TRAINING_QUEUE,
    worker_prefetch_multiplier=1,
    worker_concurrency=1,
    task_time_limit=settings.job_time_limit_s,
    # A killed job is redelivered soon enough to be retried or marked failed, not after the 1 h default.
    broker_transport_options={"visibility_timeout": settings.job_time_limit_s + 60},
)
import training_worker.tasks  # noqa: E402,F401  (registers the task on this app)
