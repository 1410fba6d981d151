"""Training job records in Redis: the gateway creates them, training workers move them through their states.

Every state change is a compare-and-set (WATCH on the job's key), so a worker can never write `running` or
`succeeded` over a job an admin has just cancelled, and two writers never lose each other's change. Jobs still
queued or running are also members of one set, which is what the queue caps count and the recovery sweep reads.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import redis

from shared import redis_keys
from shared.schemas.api import JobState, JobTrigger, TrainingJob
from shared.schemas.base import new_id, utc_now

ACTIVE_STATES = frozenset({JobState.queued, JobState.running})

# Counts the queued jobs (all, and of one family) among the active ones and creates the job only under both caps,
# in one step, so that concurrent requests cannot queue past a cap.
_CREATE_CAPPED = """
local ids = redis.call('SMEMBERS', KEYS[1])
local total, same = 0, 0
for _, id in ipairs(ids) do
  local raw = redis.call('GET', ARGV[1] .. id)
  if raw then
    local job = cjson.decode(raw)
    if job['state'] == 'queued' then
      total = total + 1
      if job['family'] == ARGV[2] then same = same + 1 end
    end
  end
end
if same >= tonumber(ARGV[3]) then return {0, same, total} end
if total >= tonumber(ARGV[4]) then return {-1, same, total} end
redis.call('SET', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[6])
redis.call('SADD', KEYS[1], ARGV[6])
return {1, same, total}
"""


class JobStateConflict(Exception):
    """The job is not in a state the change expects (it was cancelled, finished or taken meanwhile)."""

    def __init__(self, job: TrainingJob, expected: Collection[JobState]) -> None:
        super().__init__(
            f"training job {job.job_id} is {job.state.value}, not {' or '.join(sorted(s.value for s in expected))}"
        )
        self.job = job


@dataclass(frozen=True)
class QueueFull(Exception):
    """Creating the job would queue more jobs than a cap allows."""

    family: str
    queued_of_family: int
    queued_total: int
    max_per_family: int
    max_total: int

    def __str__(self) -> str:
        if self.queued_of_family >= self.max_per_family:
            return (
                f"{self.queued_of_family} {self.family} training jobs are already queued (at most "
                f"{self.max_per_family}): wait for one to start, or cancel one with DELETE /admin/training-jobs/{{id}}"
            )
        return (
            f"{self.queued_total} training jobs are already queued (at most {self.max_total}): wait for one to "
            "start, or cancel one with DELETE /admin/training-jobs/{id}"
        )


class JobStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._create_capped = client.register_script(_CREATE_CAPPED)

    @staticmethod
    def _new(family: str, params: dict[str, Any], task_id: str | None, triggered_by: JobTrigger | None) -> TrainingJob:
        now = utc_now()
        return TrainingJob(
            job_id=new_id(),
            family=family,
            params=params,
            task_id=task_id,
            triggered_by=triggered_by,
            created_at=now,
            updated_at=now,
        )

    def create(
        self,
        family: str,
        params: dict[str, Any],
        task_id: str | None = None,
        triggered_by: JobTrigger | None = None,
    ) -> TrainingJob:
        job = self._new(family, params, task_id, triggered_by)
        pipe = self._redis.pipeline()
        pipe.set(redis_keys.training_job(job.job_id), job.model_dump_json())
        pipe.zadd(redis_keys.TRAINING_JOBS_INDEX, {job.job_id: job.created_at.timestamp()})
        pipe.sadd(redis_keys.TRAINING_JOBS_ACTIVE, job.job_id)
        pipe.execute()
        return job

    def create_capped(
        self,
        family: str,
        params: dict[str, Any],
        max_per_family: int,
        max_total: int,
        task_id: str | None = None,
        triggered_by: JobTrigger | None = None,
    ) -> TrainingJob:
        """Create a queued job unless `max_per_family` jobs of its family or `max_total` jobs are queued already."""
        job = self._new(family, params, task_id, triggered_by)
        created, same, total = self._create_capped(
            keys=[
                redis_keys.TRAINING_JOBS_ACTIVE,
                redis_keys.TRAINING_JOBS_INDEX,
                redis_keys.training_job(job.job_id),
            ],
            args=[
                redis_keys.TRAINING_JOB_PREFIX,
                family,
                max_per_family,
                max_total,
                job.model_dump_json(),
                job.job_id,
                job.created_at.timestamp(),
            ],
        )
        if int(created) != 1:
            raise QueueFull(family, int(same), int(total), max_per_family, max_total)
        return job

    def get(self, job_id: str) -> TrainingJob | None:
        raw = self._redis.get(redis_keys.training_job(job_id))
        return TrainingJob.model_validate_json(raw) if raw else None

    def update(self, job_id: str, expect: Collection[JobState] | None = None, **changes: Any) -> TrainingJob:
        """Apply `changes` atomically; with `expect`, only while the job is in one of those states."""
        return self._update(job_id, expect, changes)[1]

    def _update(
        self, job_id: str, expect: Collection[JobState] | None, changes: dict[str, Any]
    ) -> tuple[TrainingJob, TrainingJob]:
        key = redis_keys.training_job(job_id)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if not raw:
                        raise KeyError(f"training job {job_id} does not exist")
                    job = TrainingJob.model_validate_json(raw)
                    if expect is not None and job.state not in expect:
                        raise JobStateConflict(job, expect)
                    updated = job.model_copy(update={**changes, "updated_at": utc_now()})
                    pipe.multi()
                    pipe.set(key, updated.model_dump_json())
                    if updated.state in ACTIVE_STATES:
                        pipe.sadd(redis_keys.TRAINING_JOBS_ACTIVE, job_id)
                    else:
                        pipe.srem(redis_keys.TRAINING_JOBS_ACTIVE, job_id)
                    pipe.execute()
                    return job, updated
                except redis.WatchError:
                    continue  # another writer changed the job between our read and write: read it again

    def list(self, limit: int = 100) -> list[TrainingJob]:
        ids = self._redis.zrevrange(redis_keys.TRAINING_JOBS_INDEX, 0, limit - 1)
        return self._get_many([i.decode() if isinstance(i, bytes) else i for i in ids])

    def active(self) -> list[TrainingJob]:
        """Jobs queued or running, oldest first."""
        ids = [i.decode() if isinstance(i, bytes) else i for i in self._redis.smembers(redis_keys.TRAINING_JOBS_ACTIVE)]
        jobs = [job for job in self._get_many(ids) if job.state in ACTIVE_STATES]
        return sorted(jobs, key=lambda job: job.created_at)

    def index_active(self, limit: int = 10_000) -> int:
        """Add to the active set the queued or running jobs recorded before it existed; returns how many."""
        missing = [job.job_id for job in self.list(limit) if job.state in ACTIVE_STATES]
        return self._redis.sadd(redis_keys.TRAINING_JOBS_ACTIVE, *missing) if missing else 0

    def _get_many(self, ids: list[str]) -> list[TrainingJob]:
        if not ids:
            return []
        raws = self._redis.mget([redis_keys.training_job(i) for i in ids])
        return [TrainingJob.model_validate_json(raw) for raw in raws if raw]

    def mark_failed(self, job_id: str, reason: str, expect: Collection[JobState] | None = None) -> TrainingJob:
        return self.update(job_id, expect=expect, state=JobState.failed, error=reason)

    def cancel(self, job_id: str, reason: str) -> tuple[JobState, TrainingJob]:
        """Mark a queued or running job cancelled; returns the state it was in and the job as now stored.

        Raises KeyError for an unknown job and JobStateConflict for one already finished.
        """
        changes = {"state": JobState.cancelled, "error": None, "progress_message": reason}
        before, after = self._update(job_id, ACTIVE_STATES, changes)
        # Released for whoever held it: that worker finds its lease gone and the job cancelled, and stops.
        self._redis.delete(redis_keys.training_job_lease(job_id))
        return before.state, after
