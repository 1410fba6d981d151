"""The `training.run_job` task: runs one queued training job and keeps its record in Redis up to date."""

from __future__ import annotations

import logging

from celery import shared_task

from shared.celery_config import TRAIN_TASK
from shared.jobs import JobStore
from shared.logging_setup import kv
from shared.redis_client import connect
from shared.schemas import JobState
from training_worker.leases import JobLease, lease_holder
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
    lease = JobLease(redis_client, job_id, settings.job_lease_ttl_s)
    if not lease.acquire():
        # Another live worker runs it (a duplicate delivery); if that worker dies, the recovery sweep re-queues it.
        log.warning("job already held %s", kv(job_id=job_id, holder=lease_holder(redis_client, job_id)))
        return {"job_id": job_id, "state": "duplicate"}
    with lease:
        return _run_claimed(store, job_id, settings, redis_client)


def _run_claimed(store: JobStore, job_id: str, settings, redis_client) -> dict:
    job = store.get(job_id)  # read again now that this process holds the lease
    if job is None or job.state in (JobState.succeeded, JobState.failed):
        return {"job_id": job_id, "state": job.state if job else "unknown"}
    if job.attempts >= MAX_ATTEMPTS:
        store.mark_failed(job_id, f"the training worker stopped during this job {job.attempts} times; not retried")
        return {"job_id": job_id, "state": "failed"}
    store.update(job_id, state=JobState.running, attempts=job.attempts + 1, error=None)
    log.info("training job started %s", kv(job_id=job_id, family=job.family, attempt=job.attempts + 1))

    def progress(current: int, total: int, message: str) -> None:
        store.update(job_id, progress_current=current, progress_total=total, progress_message=message)
        log.info("training progress %s", kv(job_id=job_id, step=f"{current}/{total}", message=message))

    try:
        outcome = run_training(job.family, job.params, settings, redis_client, progress, job_id=job_id)
    except Exception as exc:  # SoftTimeLimitExceeded included: a job past its time limit ends failed, too
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
        progress_message=f"registered {outcome.model_name} v{outcome.model_version}"
        + (" and promoted to champion" if outcome.promoted else ""),
    )
    log.info("training job succeeded %s", kv(job_id=job_id, version=outcome.model_version, promoted=outcome.promoted))
    return {"job_id": job_id, "state": "succeeded", "model_version": outcome.model_version}
