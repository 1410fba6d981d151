"""The training worker's Celery app: queue `training`, one job at a time per process, never prefetching more."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown

from shared.celery_config import TRAIN_TASK, TRAINING_QUEUE, make_celery
from shared.jobs import JobStore
from shared.logging_setup import configure_logging, stop_logging
from shared.redis_client import connect
from training_worker.leases import RecoveryLoop, recover_orphaned_jobs
from training_worker.settings import get_settings

log = logging.getLogger(__name__)
settings = get_settings()
configure_logging(settings.log_level, settings.log_format, settings.service_name)
# A pool child leaves through os._exit, which skips atexit: its queued log lines are written here first.
worker_process_shutdown.connect(lambda **_: stop_logging(), weak=False)

app = make_celery(
    "training_worker",
    settings.redis_url,
    task_default_queue=TRAINING_QUEUE,
    worker_prefetch_multiplier=1,
    worker_concurrency=1,
    task_time_limit=settings.job_time_limit_s,
    # The soft limit raises inside the job first, so it ends `failed` with a reason before the hard kill.
    task_soft_time_limit=max(settings.job_time_limit_s - 60, 1),
    # A killed job is redelivered soon enough to be retried or marked failed, not after the 1 h default.
    broker_transport_options={"visibility_timeout": settings.job_time_limit_s + 60},
)
import training_worker.tasks  # noqa: E402,F401  (registers the task on this app)

_recovery: RecoveryLoop | None = None


@worker_ready.connect
def _start_recovery(**_: Any) -> None:
    """Re-queue jobs left `running` by a dead worker and re-send queued jobs whose message was lost, now and
    periodically (this worker's main process)."""
    global _recovery
    from training_worker.tasks import MAX_ATTEMPTS

    client = connect(settings.redis_url)
    try:
        JobStore(client).index_active()
    except (redis.RedisError, OSError):  # Redis down at start: the sweep retries its own reads later
        log.warning("could not index the active training jobs")

    def send(job_id: str, task_id: str) -> None:
        app.send_task(TRAIN_TASK, args=[job_id], queue=settings.training_queue, task_id=task_id)

    def sweep() -> list[str]:
        return recover_orphaned_jobs(
            client,
            send,
            MAX_ATTEMPTS,
            queued_after_s=settings.queued_job_resend_after_s,
            queue=settings.training_queue,
        )

    _recovery = RecoveryLoop(sweep, settings.recovery_interval_s)
    _recovery.start()


@worker_shutdown.connect
def _stop_recovery(**_: Any) -> None:
    if _recovery is not None:
        _recovery.stop()


_gate = None


@worker_ready.connect
def _start_gate(**_: Any) -> None:
    """The promotion gate of the served model's challenger (training_worker/gate.py), in this main process."""
    global _gate
    from mlflow import MlflowClient

    from training_worker.gate import GateLoop

    client = MlflowClient(settings.mlflow_tracking_uri)
    _gate = GateLoop(client, connect(settings.redis_url), settings.lstm_model_name, settings, settings.champion_alias)
    _gate.start()


@worker_shutdown.connect
def _stop_gate(**_: Any) -> None:
    if _gate is not None:
        _gate.stop()
