"""The `training.run_job` task: runs one queued training job and keeps its record in Redis up to date."""

from __future__ import annotations

import logging

from celery import shared_task

from shared.celery_config import TRAIN_TASK
from shared.jobs import JobStore
from shared.logging_setup import kv
from shared.redis_client import connect
from shared.schemas import JobState
from training_worker.pipeline import run_training
from training_worker.settings import get_settings

log = logging.getLogger(__name__)

# A job whose worker died this many times is failed rather than retried forever.
MAX_ATTEMPTS = 2


@shared_task(name=TRAIN_TASK, acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: str) -> dict:
    settings = get_settings()
    redis_client = connect(settings.redis_url)
    store = JobStore(redis_client)
    job = store.get(job_id)
    if job is None:
        log.error("unknown training job %s", kv(job_id=job_id))
        return {"job_id": job_id, "state": "unknown"}
    if job.state in (JobState.succeeded, JobState.failed):
        return {"job_id": job_id, "state": job.state}  # a redelivered message for a finished job
    if job.attempts >= MAX_ATTEMPTS:
        store.mark_failed(job_id, f"the training worker stopped during this job {job.attempts} times; not retried")
        return {"job_id": job_id, "state": "failed"}
    store.update(job_id, state=JobState.running, attempts=job.attempts + 1, error=None)

    def progress(current: int, total: int, message: str) -> None:
        store.update(job_id, progress_current=current, progress_total=total, progress_message=message)
        log.info("training progress %s", kv(job_id=job_id, step=f"{current}/{total}", message=message))

    try:
        outcome = run_training(job.family, job.params, settings, redis_client, progress, job_id=job_id)
    except Exception as exc:
        reason = f"{exc.__class__.__name__}: {exc}"
        log.exception("training failed %s", kv(job_id=job_id, family=job.family))
        store.mark_failed(job_id, reason[:2000])
        return {"job_id": job_id, "state": "failed", "error": reason[:2000]}
    store.update(
        job_id,
        state=JobState.succeeded,
        mlflow_run_id=outcome.run_id,
        model_name=outcome.model_name,
        model_version=outcome.model_version,
        metrics=outcome.metrics,
        promoted=outcome.promoted,
    )
    return {"job_id": job_id, "state": "succeeded", "model_version": outcome.model_version}
