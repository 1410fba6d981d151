"""Alerting's reports of misprediction bursts: written by alerting, read by gateway and UI."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from shared.schemas.events import MispredictionEvent
from shared.schemas.retraining import RetrainingOutcome, RetrainingPolicy


class AlertReportState(StrEnum):
    pending = "pending"  # stored, not tried yet
    retrying = "retrying"  # a send failed; tried again at `next_attempt_at`
    sent = "sent"  # handed to the SMTP server, or written to the outbox


class ReportedModel(BaseModel):
    name: str
    version: str
    run_id: str | None = None
    run_url: str | None = None


class MailedReport(BaseModel):
    """An email alerting sends: stored before it is sent so that a crash never loses it, then sent once."""

    report_id: str
    state: AlertReportState = AlertReportState.pending
    subject: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_via: Literal["smtp", "outbox"] | None = None
    delivered_to: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None


class AlertReport(MailedReport):
    """One email about a burst of mispredictions."""

    stream_ids: list[str]
    events: list[MispredictionEvent]
    models: list[ReportedModel] = Field(default_factory=list)
    threshold: int
    window_s: float
    window_start: datetime
    window_end: datetime
    # Decided once, before the first send, so that the email says whether a job was queued.
    retraining: RetrainingOutcome | None = None


class AlertingStatus(BaseModel):
    """The alerting process's heartbeat: its rule and where its mail goes."""

    consumer: str
    threshold: int
    window_s: float
    cooldown_s: float
    delivery: Literal["smtp", "outbox"]
    retraining: RetrainingPolicy | None = None
    seen_at: datetime


class MispredictionEntry(BaseModel):
    stream_id: str
    event: MispredictionEvent


class AlertsOverview(BaseModel):
    """GET /alerts: recent misprediction events (newest first), reports with their state, the service's rule."""

    events: list[MispredictionEntry]
    reports: list[AlertReport]
    unsent_reports: int
    alerting: AlertingStatus | None = None
