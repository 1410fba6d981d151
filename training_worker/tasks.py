"""The `training.run_job` task: runs one queued training job and keeps its record in Redis up to date."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

import redis
from celery import shared_task
from celery.signals import task_revoked
from pydantic import ValidationError

from shared.celery_config import TRAIN_TASK
from shared.jobs import JobStateConflict, JobStore
from shared.logging_setup import kv
from shared.redis_client import connect
from shared.schemas.api import FINISHED_JOB_STATES, JobState
from shared.training_params import validate_params
from training_worker import metrics
from training_worker.leases import JobLease, lease_holder
from training_worker.pipeline import run_training
from training_worker.settings import TrainingSettings, get_settings

log = logging.getLogger(__name__)

# A job whose worker died this many times is failed rather than retried forever.
MAX_ATTEMPTS = 2
RUNNING = frozenset({JobState.running})


class JobStopped(Exception):
    """The job was cancelled, or its lease was lost to another worker: this process must stop working on it."""


@lru_cache(maxsize=1)
def process_redis() -> redis.Redis:
    """This process's one Redis client, whatever the job: redis-py's pool opens its own connections again in a
    forked pool child."""
    return connect(get_settings().redis_url)


@shared_task(name=TRAIN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self: Any, job_id: str) -> dict:
    settings = get_settings()
    redis_client = process_redis()
    store = JobStore(redis_client)
    job = store.get(job_id)
    if job is None:
        log.error("unknown training job %s", kv(job_id=job_id))
        return {"job_id": job_id, "state": "unknown"}
    if job.state in FINISHED_JOB_STATES:
        return {"job_id": job_id, "state": job.state}  # a redelivered message for a finished or cancelled job
    lease = JobLease(redis_client, job_id, settings.job_lease_ttl_s)
    if not lease.acquire():
        # Another live worker runs it (a duplicate delivery); if that worker dies, the recovery sweep re-queues it.
        log.warning("job already held %s", kv(job_id=job_id, holder=lease_holder(redis_client, job_id)))
        return {"job_id": job_id, "state": "duplicate"}
    with lease:
        try:
            return _run_claimed(store, job_id, settings, redis_client, lease, self.request.id)
        except JobStateConflict as exc:
            # Cancelled (or finished by another worker) while this one worked: whatever it made is not recorded.
            log.warning("training job stopped %s", kv(job_id=job_id, state=exc.job.state.value))
            return {"job_id": job_id, "state": exc.job.state.value}
        except JobStopped as exc:
            log.warning("training job stopped %s", kv(job_id=job_id, reason=exc))
            return {"job_id": job_id, "state": "stopped"}


@task_revoked.connect
def _count_cancelled_while_running(sender: Any = None, request: Any = None, terminated: bool = False, **_: Any) -> None:
    """Runs in the worker's main process: the gateway has a cancelled job's pool child terminated, so the child
    never counts how its job ended."""
    if not terminated or getattr(sender, "name", None) != TRAIN_TASK or not getattr(request, "args", None):
        return
    try:
        job = JobStore(process_redis()).get(request.args[0])
    except (redis.RedisError, OSError):
        return
    if job is not None and job.state == JobState.cancelled:
        metrics.job_cancelled(job.family)


def _run_claimed(
    store: JobStore,
    job_id: str,
    settings: TrainingSettings,
    redis_client: redis.Redis,
    lease: JobLease,
    task_id: str | None,
) -> dict:
    job = store.get(job_id)  # read again now that this process holds the lease
    if job is None or job.state in FINISHED_JOB_STATES:
        return {"job_id": job_id, "state": job.state if job else "unknown"}
    if job.attempts >= MAX_ATTEMPTS:
        store.mark_failed(
            job_id,
            f"the training worker stopped during this job {job.attempts} times; not retried",
            expect={JobState.queued, JobState.running},
        )
        metrics.job_refused(job.family)
        return {"job_id": job_id, "state": "failed"}
    try:
        # Validated again here: the worker's own data directory and file limits are the ones that count.
        validate_params(job.family, job.params, data_dir=settings.data_dir)
    except (ValueError, ValidationError) as exc:
        reason = _params_problem(exc)
        store.mark_failed(job_id, reason, expect={JobState.queued, JobState.running})
        metrics.job_refused(job.family)
        log.error("training job refused %s", kv(job_id=job_id, family=job.family, reason=reason))
        return {"job_id": job_id, "state": "failed", "error": reason}
    store.update(
        job_id,
        expect={JobState.queued, JobState.running},
        state=JobState.running,
        attempts=job.attempts + 1,
        error=None,
        task_id=task_id,
    )
    log.info("training job started %s", kv(job_id=job_id, family=job.family, attempt=job.attempts + 1))

    def progress(current: int, total: int, message: str) -> None:
        if lease.lost.is_set():
            raise JobStopped("its lease expired and may be held by another worker")
        # Raises JobStateConflict once the job is cancelled: the training stops at its next step.
        store.update(job_id, expect=RUNNING, progress_current=current, progress_total=total, progress_message=message)
        log.info("training progress %s", kv(job_id=job_id, step=f"{current}/{total}", message=message))

    with metrics.JobRun(job.family) as run:
        try:
            outcome = run_training(job.family, job.params, settings, redis_client, progress, job_id=job_id)
        except (JobStopped, JobStateConflict):
            raise
        except Exception as exc:  # SoftTimeLimitExceeded included: a job past its time limit ends failed, too
            reason = f"{exc.__class__.__name__}: {exc}"
            log.exception("training failed %s", kv(job_id=job_id, family=job.family))
            store.mark_failed(job_id, reason[:2000], expect=RUNNING)
            run.end("failed")
            return {"job_id": job_id, "state": "failed", "error": reason[:2000]}
        if lease.lost.is_set() or not lease.extend():
            raise JobStopped("its lease was lost before the result was recorded")
        # Through JSON and back: the record must serialize whatever types the promotion decision holds (numpy floats).
        decision = json.loads(json.dumps(outcome.decision, default=str)) if getattr(outcome, "decision", None) else None
        store.update(
            job_id,
            expect=RUNNING,
            state=JobState.succeeded,
            mlflow_run_id=outcome.run_id,
            model_name=outcome.model_name,
            model_version=outcome.model_version,
            metrics=outcome.metrics,
            promoted=outcome.promoted,
            promotion=decision,
            progress_message=f"registered {outcome.model_name} v{outcome.model_version}"
            + (" and promoted to champion" if outcome.promoted else ""),
        )
        run.end("succeeded")
        log.info(
            "training job succeeded %s", kv(job_id=job_id, version=outcome.model_version, promoted=outcome.promoted)
        )
        return {"job_id": job_id, "state": "succeeded", "model_version": outcome.model_version}


def _params_problem(exc: ValueError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        return "invalid params: " + "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
    return f"invalid params: {exc}"
