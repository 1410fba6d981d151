"""Queueing a training job, the one way every service does it: the record under the queue caps, then its task.

An admin's `POST /admin/training-jobs` and alerting's retraining policy both call `queue_training_job`, so a job
queued by either is the same record in the same store, on the same Celery queue, followed the same way.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from shared.celery_config import TRAIN_TASK, TRAINING_QUEUE
from shared.jobs import JobStore
from shared.logging_setup import kv
from shared.schemas.api import JobTrigger, TrainingJob
from shared.schemas.base import new_id

log = logging.getLogger(__name__)


class TrainingQueueUnavailable(Exception):
    """The job was recorded but its task could not be sent; the job is marked failed, never left queued."""


def queue_training_job(
    store: JobStore,
    celery: Celery,
    family: str,
    params: dict[str, Any],
    max_queued_per_family: int,
    max_queued: int,
    triggered_by: JobTrigger,
) -> TrainingJob:
    """Record a queued job of `family` with already validated `params`, then send its task to the training queue.

    Raises `shared.jobs.QueueFull` past a cap (nothing recorded), `redis.RedisError` when the store is unreachable
    (nothing recorded) and `TrainingQueueUnavailable` when the task could not be sent (the job is marked failed)."""
    task_id = new_id()
    job = store.create_capped(
        family, params, max_queued_per_family, max_queued, task_id=task_id, triggered_by=triggered_by
    )
    try:
        celery.send_task(TRAIN_TASK, args=[job.job_id], queue=TRAINING_QUEUE, task_id=task_id, retry=True)
    except (OperationalError, redis.RedisError, OSError) as exc:
        # Never leave a `queued` job that no worker will ever see.
        try:
            store.mark_failed(job.job_id, f"could not be queued: {exc.__class__.__name__}")
        except (redis.RedisError, OSError):
            log.exception("job could not be marked failed %s", kv(job_id=job.job_id))
        raise TrainingQueueUnavailable(f"the training queue is unreachable: {exc.__class__.__name__}") from exc
    return job
