"""The retraining policy's state in Redis, and the rule that says whether a report may queue a job.

The policy itself is alerting's settings; what must outlive a restart and be shared with the gateway lives here: an
admin's pause, the last automatic job, and the corrections that job already counted (a correction is "new" until an
automatic job has been queued after it). The rate limit is also held by a key that expires when the next automatic
job may be queued, claimed with SET NX, so that two alerting processes never both queue one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import redis

from shared import redis_keys
from shared.schemas.alerts import AlertingStatus
from shared.schemas.base import utc_now
from shared.schemas.retraining import AutomaticJob, PolicyPause, RetrainingPolicy, RetrainingPolicyView


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def next_possible_at(policy: RetrainingPolicy, last_job: AutomaticJob | None) -> datetime | None:
    if last_job is None:
        return None
    return last_job.queued_at + timedelta(hours=policy.min_interval_h)


def refusal(
    policy: RetrainingPolicy,
    pause: PolicyPause,
    new_corrections: int,
    last_job: AutomaticJob | None,
    now: datetime,
) -> str | None:
    """Why a report may not queue a job now, or None when it may."""
    if not policy.enabled:
        return "the retraining policy is off (RETRAINING_POLICY=off)"
    if pause.paused:
        since = f" at {_when(pause.at)}" if pause.at else ""
        return f"the retraining policy is paused (by {pause.by or 'an admin'}{since}): resume it to queue jobs"
    if new_corrections < policy.min_new_corrections:
        return (
            f"{new_corrections} new correction(s) since the last automatic job, "
            f"{policy.min_new_corrections} needed (RETRAINING_MIN_NEW_CORRECTIONS)"
        )
    next_at = next_possible_at(policy, last_job)
    if last_job is not None and next_at is not None and now < next_at:
        return (
            f"job {last_job.job_id} was queued automatically at {_when(last_job.queued_at)}: at most one per "
            f"{policy.min_interval_h:g} h (RETRAINING_MIN_INTERVAL_H), the next from {_when(next_at)}"
        )
    return None


class RetrainingPolicyStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def pause(self) -> PolicyPause:
        raw = self.client.get(redis_keys.RETRAINING_PAUSE)
        return PolicyPause.model_validate_json(raw) if raw else PolicyPause()

    def set_paused(self, paused: bool, by: str) -> PolicyPause:
        pause = PolicyPause(paused=paused, by=by, at=utc_now())
        self.client.set(redis_keys.RETRAINING_PAUSE, pause.model_dump_json())
        return pause

    def last_job(self) -> AutomaticJob | None:
        raw = self.client.get(redis_keys.RETRAINING_LAST_JOB)
        return AutomaticJob.model_validate_json(raw) if raw else None

    def new_corrections(self) -> tuple[int, list[str]]:
        """How many corrections the last automatic job has not counted, and the ids of all corrections now."""
        current = [_text(key) for key in self.client.hkeys(redis_keys.FEEDBACK_CORRECTIONS)]
        if not current:
            return 0, []
        counted = self.client.smismember(redis_keys.RETRAINING_COUNTED_CORRECTIONS, current)
        return sum(1 for was_counted in counted if not was_counted), current

    def claim_slot(self, report_id: str, interval_s: float) -> bool:
        """Take the rate limit's slot for this report; False when another job holds it."""
        if interval_s <= 0:
            return True
        return bool(self.client.set(redis_keys.RETRAINING_SLOT, report_id, nx=True, ex=max(1, round(interval_s))))

    def release_slot(self, report_id: str) -> None:
        """Give the slot back when no job was queued after all (the queue was full or unreachable)."""
        if _text(self.client.get(redis_keys.RETRAINING_SLOT) or b"") == report_id:
            self.client.delete(redis_keys.RETRAINING_SLOT)

    def record_job(self, job: AutomaticJob, correction_ids: list[str]) -> None:
        """The job as the last automatic one, and the corrections it counted, together."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(redis_keys.RETRAINING_LAST_JOB, job.model_dump_json())
            pipe.delete(redis_keys.RETRAINING_COUNTED_CORRECTIONS)
            if correction_ids:
                pipe.sadd(redis_keys.RETRAINING_COUNTED_CORRECTIONS, *correction_ids)
            pipe.execute()

    def published_policy(self) -> RetrainingPolicy | None:
        """The policy of the running alerting process (from its heartbeat); None when none runs."""
        raw = self.client.get(redis_keys.ALERTING_HEARTBEAT)
        return AlertingStatus.model_validate_json(raw).retraining if raw else None

    def view(self) -> RetrainingPolicyView:
        policy = self.published_policy()
        pause = self.pause()
        last_job = self.last_job()
        new_corrections, _ = self.new_corrections()
        return RetrainingPolicyView(
            policy=policy,
            paused=pause.paused,
            paused_by=pause.by,
            paused_at=pause.at,
            new_corrections=new_corrections,
            last_automatic_job=last_job,
            next_possible_at=next_possible_at(policy, last_job) if policy else None,
        )
