"""Admin routes: queue a training job (validated and capped before anything is queued), follow its state, list
jobs, cancel one."""

from __future__ import annotations

import logging
from typing import Annotated

import redis
from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import OperationalError
from pydantic import ValidationError

from gateway.deps import AdminRole, CeleryDep, JobStoreDep, SettingsDep
from gateway.errors import NEEDS_ADMIN, REDIS_DOWN, unavailable
from shared.job_queue import TrainingQueueUnavailable, queue_training_job
from shared.jobs import JobStateConflict, QueueFull
from shared.logging_setup import kv
from shared.schemas.api import JobState, JobTrigger, TrainingJob, TrainingJobRequest
from shared.training_params import validate_params

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", tags=["admin"])

AUTH = {**NEEDS_ADMIN, **REDIS_DOWN}
NO_SUCH_JOB = {404: {"description": "No training job with this id."}}
JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _no_such_job(job_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id!r}: list them at /admin/training-jobs")


def _params_error(exc: ValidationError) -> RequestValidationError:
    """Point each error at `params.<field>` so the 422 message says which parameter to fix."""
    return RequestValidationError(
        [
            {"loc": ("body", "params", *error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
    )


@router.post(
    "/training-jobs",
    response_model=TrainingJob,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **AUTH,
        422: {"description": "Unknown family or invalid params (a data file outside DATA_DIR); nothing was queued."},
        429: {"description": "Too many jobs queued already (of this family, or in all); nothing was queued."},
    },
)
def create_training_job(
    body: TrainingJobRequest,
    request: Request,
    role: AdminRole,
    settings: SettingsDep,
    store: JobStoreDep,
    celery: CeleryDep,
) -> TrainingJob:
    """Queue one training run of a family; answers at once with the job to follow at GET /admin/training-jobs/{id}."""
    try:
        params = validate_params(body.family, body.params, data_dir=settings.data_dir)
    except ValidationError as exc:
        raise _params_error(exc) from None
    request_id = getattr(request.state, "request_id", None)
    trigger = JobTrigger(kind="admin", by=role.name)
    try:
        job = queue_training_job(
            store,
            celery,
            body.family,
            params.model_dump(mode="json"),
            settings.max_queued_jobs_per_family,
            settings.max_queued_jobs,
            trigger,
        )
    except QueueFull as exc:
        log.warning("training job refused, queue full %s", kv(family=body.family, request_id=request_id))
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from None
    except TrainingQueueUnavailable as exc:
        raise unavailable("the training queue is unreachable, the job was not queued", settings.retry_after_s) from exc
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable, the job was not created", settings.retry_after_s) from exc
    log.info("training job queued %s", kv(job_id=job.job_id, family=job.family, request_id=request_id))
    return job


@router.get("/training-jobs", response_model=list[TrainingJob], responses=AUTH)
def list_training_jobs(
    role: AdminRole,
    settings: SettingsDep,
    store: JobStoreDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Newest first, at most this many.")] = 100,
) -> list[TrainingJob]:
    """Training jobs, newest first."""
    try:
        return store.list(limit)
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable", settings.retry_after_s) from exc


@router.get(
    "/training-jobs/{job_id}",
    response_model=TrainingJob,
    responses={**AUTH, **NO_SUCH_JOB},
)
def get_training_job(job_id: JobId, role: AdminRole, settings: SettingsDep, store: JobStoreDep) -> TrainingJob:
    """State (queued, running, succeeded, failed, cancelled), progress, MLflow run id, metrics, promotion."""
    try:
        job = store.get(job_id)
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable", settings.retry_after_s) from exc
    if job is None:
        raise _no_such_job(job_id)
    return job


@router.delete(
    "/training-jobs/{job_id}",
    response_model=TrainingJob,
    responses={
        **AUTH,
        **NO_SUCH_JOB,
        409: {"description": "The job has already finished (succeeded, failed or cancelled)."},
    },
)
def cancel_training_job(
    job_id: JobId,
    request: Request,
    role: AdminRole,
    settings: SettingsDep,
    store: JobStoreDep,
    celery: CeleryDep,
) -> TrainingJob:
    """Cancel a queued or running job: a running one's worker process is terminated and takes the next job."""
    try:
        previous, job = store.cancel(job_id, "cancelled by an admin")
    except KeyError:
        raise _no_such_job(job_id) from None
    except JobStateConflict as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"training job {job_id!r} is already {exc.job.state.value}: only queued or running jobs can be cancelled",
        ) from None
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable, the job was not cancelled", settings.retry_after_s) from exc
    request_id = getattr(request.state, "request_id", None)
    if previous == JobState.running and job.task_id:
        try:
            celery.control.revoke(job.task_id, terminate=True, signal="SIGTERM")
        except (OperationalError, redis.RedisError, OSError):
            # The worker still stops at the job's next progress step, where it finds the job cancelled.
            log.warning("could not signal the training worker %s", kv(job_id=job_id, request_id=request_id))
    log.info("training job cancelled %s", kv(job_id=job_id, was=previous.value, request_id=request_id))
    return job
