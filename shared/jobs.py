"""Training job records in Redis: the gateway creates them, training workers move them through their states."""

from __future__ import annotations

from typing import Any

import redis

from shared import redis_keys
from shared.schemas import JobState, TrainingJob, new_id, utc_now


class JobStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def create(self, family: str, params: dict[str, Any]) -> TrainingJob:
        now = utc_now()
        job = TrainingJob(job_id=new_id(), family=family, params=params, created_at=now, updated_at=now)
        pipe = self._redis.pipeline()
        pipe.set(redis_keys.training_job(job.job_id), job.model_dump_json())
        pipe.zadd(redis_keys.TRAINING_JOBS_INDEX, {job.job_id: now.timestamp()})
        pipe.execute()
        return job

    def get(self, job_id: str) -> TrainingJob | None:
        raw = self._redis.get(redis_keys.training_job(job_id))
        return TrainingJob.model_validate_json(raw) if raw else None

    def update(self, job_id: str, **changes: Any) -> TrainingJob:
        job = self.get(job_id)
        if job is None:
            raise KeyError(f"training job {job_id} does not exist")
        updated = job.model_copy(update={**changes, "updated_at": utc_now()})
        self._redis.set(redis_keys.training_job(job_id), updated.model_dump_json())
        return updated

    def list(self, limit: int = 100) -> list[TrainingJob]:
        ids = self._redis.zrevrange(redis_keys.TRAINING_JOBS_INDEX, 0, limit - 1)
        jobs = [self.get(i.decode() if isinstance(i, bytes) else i) for i in ids]
        return [j for j in jobs if j is not None]

    def mark_failed(self, job_id: str, reason: str) -> TrainingJob:
        return self.update(job_id, state=JobState.failed, error=reason)
