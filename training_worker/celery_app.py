"""The training worker's Celery app: queue `training`, one job at a time per process, never prefetching more.

Built by `create_celery_app(settings)` from `python -m training_worker worker`, once settings and logging are set
up; the worker's main process also runs the recovery sweep and the promotion gate, started and stopped with it.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown

from shared.celery_config import TRAIN_TASK, TRAINING_QUEUE, make_celery
from shared.jobs import JobStore
from shared.logging_setup import stop_logging
from training_worker.leases import RecoveryLoop, recover_orphaned_jobs
from training_worker.settings import TrainingSettings

log = logging.getLogger(__name__)


def create_celery_app(settings: TrainingSettings) -> Celery:
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
    import training_worker.tasks  # noqa: F401  (registers the task on this app)

    loops = _MainProcessLoops(app, settings)
    worker_ready.connect(loops.start, weak=False)
    worker_shutdown.connect(loops.stop, weak=False)
    # A pool child leaves through os._exit, which skips atexit: its queued log lines are written here first.
    worker_process_shutdown.connect(lambda **_: stop_logging(), weak=False)
    return app


class _MainProcessLoops:
    """The recovery sweep and the promotion gate, in the worker's main process."""

    def __init__(self, app: Celery, settings: TrainingSettings) -> None:
        self.app = app
        self.settings = settings
        self._recovery: RecoveryLoop | None = None
        self._gate: Any = None

    def start(self, **_: Any) -> None:
        from training_worker.tasks import process_redis

        client = process_redis()
        self._start_recovery(client)
        self._start_gate(client)

    def stop(self, **_: Any) -> None:
        if self._recovery is not None:
            self._recovery.stop()
        if self._gate is not None:
            self._gate.stop()

    def _start_recovery(self, client: redis.Redis) -> None:
        """Re-queue jobs left `running` by a dead worker and re-send queued jobs whose message was lost, now and
        periodically."""
        from training_worker.tasks import MAX_ATTEMPTS

        settings = self.settings
        try:
            JobStore(client).index_active()
        except (redis.RedisError, OSError):  # Redis down at start: the sweep retries its own reads later
            log.warning("could not index the active training jobs")

        def send(job_id: str, task_id: str) -> None:
            self.app.send_task(TRAIN_TASK, args=[job_id], queue=settings.training_queue, task_id=task_id)

        def sweep() -> list[str]:
            return recover_orphaned_jobs(
                client,
                send,
                MAX_ATTEMPTS,
                queued_after_s=settings.queued_job_resend_after_s,
                queue=settings.training_queue,
            )

        self._recovery = RecoveryLoop(sweep, settings.recovery_interval_s)
        self._recovery.start()

    def _start_gate(self, client: redis.Redis) -> None:
        """The promotion gate of the served model's challenger (training_worker/gate.py)."""
        from mlflow import MlflowClient

        from training_worker.gate import GateLoop

        settings = self.settings
        registry = MlflowClient(settings.mlflow_tracking_uri)
        self._gate = GateLoop(registry, client, settings.lstm_model_name, settings, settings.champion_alias)
        self._gate.start()
