"""The retraining policy: what alerting does when a report fires, its pause flag, and what it did for each report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.families import TrainingFamily


class RetrainingPolicy(BaseModel):
    """Alerting's RETRAINING_* settings, as it publishes them in its heartbeat."""

    enabled: bool = Field(..., description="RETRAINING_POLICY=on: a report may queue a job.")
    min_interval_h: float = Field(..., description="At most one automatic job per this many hours.")
    min_new_corrections: int = Field(..., description="Corrections needed since the last automatic job.")
    family: TrainingFamily
    params: dict[str, Any] = Field(default_factory=dict, description="The job's params (feedback always included).")


class PolicyPause(BaseModel):
    """Set by an admin; kept in Redis so that it outlives restarts of alerting and gateway."""

    paused: bool = False
    by: str | None = None
    at: datetime | None = None


class AutomaticJob(BaseModel):
    """The last job the policy queued."""

    job_id: str
    report_id: str
    family: TrainingFamily
    queued_at: datetime


class RetrainingOutcome(BaseModel):
    """What the policy did for one report: the job it queued, or why it queued none. Shown in the email."""

    queued: bool
    reason: str
    job_id: str | None = None
    job_url: str | None = None
    family: TrainingFamily | None = None
    new_corrections: int = 0
    decided_at: datetime


class RetrainingPolicyView(BaseModel):
    """GET /admin/retraining-policy."""

    policy: RetrainingPolicy | None = Field(
        None, description="Alerting's policy; null while no alerting process is running to apply one."
    )
    paused: bool
    paused_by: str | None = None
    paused_at: datetime | None = None
    new_corrections: int = Field(..., description="Analysts' corrections since the last automatic job.")
    last_automatic_job: AutomaticJob | None = None
    next_possible_at: datetime | None = Field(
        None, description="Before this moment the rate limit refuses another automatic job."
    )


class RetrainingPolicyUpdate(BaseModel):
    """POST /admin/retraining-policy: pause or resume."""

    model_config = ConfigDict(extra="forbid")
    paused: bool
