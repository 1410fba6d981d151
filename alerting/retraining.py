"""Alert -> retraining: when a report fires, the retraining policy may queue a job of the served family, with the
analysts' corrections included, through the same queueing function and job store an admin's request uses."""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from celery import Celery

from alerting.settings import AlertingSettings
from shared.job_queue import TrainingQueueUnavailable, queue_training_job
from shared.jobs import JobStore, QueueFull
from shared.logging_setup import kv
from shared.retraining_policy import RetrainingPolicyStore, refusal
from shared.schemas.alerts import AlertReport
from shared.schemas.api import JobTrigger
from shared.schemas.retraining import AutomaticJob, RetrainingOutcome

log = logging.getLogger(__name__)


class ReportRetrainer:
    def __init__(self, settings: AlertingSettings, client: redis.Redis, celery: Celery) -> None:
        self.settings = settings
        self.policy = settings.retraining
        self.celery = celery
        self.jobs = JobStore(client)
        self.state = RetrainingPolicyStore(client)

    def job_url(self, job_id: str) -> str:
        return f"{self.settings.gateway_url.rstrip('/')}/admin/training-jobs/{job_id}"

    def decide(self, report: AlertReport, now: datetime) -> RetrainingOutcome:
        """Queue a job for this report if the policy allows it now; either way, say what was done and why."""
        last_job = self.state.last_job()
        if last_job is not None and last_job.report_id == report.report_id:
            # Queued before a restart that came ahead of recording the outcome in the report: not queued twice.
            return self._queued(last_job.job_id, "queued for this report before alerting restarted", 0, now)
        new_corrections, correction_ids = self.state.new_corrections()
        reason = refusal(self.policy, self.state.pause(), new_corrections, last_job, now)
        if reason is None and not self.state.claim_slot(report.report_id, self.policy.min_interval_h * 3600):
            reason = "another automatic job was just queued (RETRAINING_MIN_INTERVAL_H)"
        if reason is not None:
            log.info("no retraining for the report %s", kv(report_id=report.report_id, reason=reason))
            return RetrainingOutcome(queued=False, reason=reason, new_corrections=new_corrections, decided_at=now)
        trigger = JobTrigger(kind="alert", by="alerting", report_id=report.report_id)
        try:
            job = queue_training_job(
                self.jobs,
                self.celery,
                self.policy.family,
                self.policy.params,
                self.settings.max_queued_jobs_per_family,
                self.settings.max_queued_jobs,
                trigger,
            )
        except (QueueFull, TrainingQueueUnavailable) as exc:
            self.state.release_slot(report.report_id)
            log.warning("retraining not queued %s", kv(report_id=report.report_id, error=str(exc)[:200]))
            return RetrainingOutcome(queued=False, reason=str(exc), new_corrections=new_corrections, decided_at=now)
        except (redis.RedisError, OSError):
            # Not decided: the report keeps no outcome, so the next delivery attempt decides again.
            self.state.release_slot(report.report_id)
            raise
        self.state.record_job(
            AutomaticJob(job_id=job.job_id, report_id=report.report_id, family=job.family, queued_at=job.created_at),
            correction_ids,
        )
        log.info(
            "retraining job queued by an alert %s",
            kv(report_id=report.report_id, job_id=job.job_id, family=job.family, new_corrections=new_corrections),
        )
        reason = f"{new_corrections} new correction(s) since the last automatic job"
        return self._queued(job.job_id, reason, new_corrections, now)

    def _queued(self, job_id: str, reason: str, new_corrections: int, now: datetime) -> RetrainingOutcome:
        return RetrainingOutcome(
            queued=True,
            reason=reason,
            job_id=job_id,
            job_url=self.job_url(job_id),
            family=self.policy.family,
            new_corrections=new_corrections,
            decided_at=now,
        )
