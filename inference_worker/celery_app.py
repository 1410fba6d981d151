"""The inference worker's Celery app: queue `inference`; the model is loaded in the serving process, lazily."""

from __future__ import annotations

import logging

from celery.signals import worker_process_init, worker_ready, worker_shutdown

from inference_worker.settings import get_settings
from shared.celery_config import INFERENCE_QUEUE, make_celery
from shared.logging_setup import configure_logging

settings = get_settings()
configure_logging(settings.log_level)
log = logging.getLogger(__name__)

app = make_celery(
    "inference_worker",
    settings.redis_url,
    worker_prefetch_multiplier=4,
    task_default_queue=INFERENCE_QUEUE,
    worker_pool=settings.worker_pool,
    worker_concurrency=settings.worker_concurrency,
)
import inference_worker.tasks  # noqa: E402,F401  (registers the task on this app)


@worker_process_init.connect
def _load_in_pool_child(**_: object) -> None:
    # Prefork: each child loads its own model after the fork.
    from inference_worker.runtime import get_runtime

    get_runtime()


@worker_ready.connect
def _load_in_single_process_pools(sender: object = None, **_: object) -> None:
    # solo/threads pools serve from this very process; a prefork parent must never load TensorFlow.
    if app.conf.worker_pool in ("solo", "threads"):
        from inference_worker.runtime import get_runtime

        get_runtime()


@worker_shutdown.connect
def _stop(**_: object) -> None:
    from inference_worker.runtime import shutdown_runtime

    shutdown_runtime()
