"""Message schemas: the contract between gateway, workers, alerting and UI, validated at both ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.families import TrainingFamily

SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 1000
MAX_BATCH_TEXTS = 1000

Label = Literal["positive", "negative"]


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


def _check_tweet_text(value: str) -> str:
    if not value.strip():
        raise ValueError("text is empty or whitespace only: send the tweet's words")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"text is {len(value)} characters long: send at most {MAX_TEXT_CHARS}")
    if "\x00" in value:
        raise ValueError("text contains a NUL character: remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON's \ud83d escapes decode to lone surrogates: valid JSON, but no UTF-8 text nor any tweet.
        raise ValueError("text has a lone surrogate (\\ud800-\\udfff escape): send valid Unicode") from None
    return value


TweetText = Annotated[str, StringConstraints(strict=True)]


class Message(BaseModel):
    """Base of every event and task payload: versioned and strict about unknown fields."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION


# --- HTTP requests ---------------------------------------------------------------------------


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: TweetText = Field(..., description=f"The tweet, 1 to {MAX_TEXT_CHARS} characters.")

    @field_validator("text")
    @classmethod
    def _valid_text(cls, value: str) -> str:
        return _check_tweet_text(value)


class PredictBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[TweetText] = Field(..., min_length=1, max_length=MAX_BATCH_TEXTS)

    @field_validator("texts")
    @classmethod
    def _valid_texts(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            try:
                _check_tweet_text(value)
            except ValueError as exc:
                raise ValueError(f"texts[{index}]: {exc}") from None
        return values


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prediction_id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    correct_label: Label
    comment: Annotated[str, StringConstraints(max_length=1000)] | None = None




class TrainingJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    family: TrainingFamily
    params: dict[str, Any] = Field(default_factory=dict)


# --- Answers and records ---------------------------------------------------------------------


class Prediction(BaseModel):
    prediction_id: str
    label: Label
    probability_positive: float = Field(..., ge=0.0, le=1.0)
    model_name: str
    model_version: str
    embedding_type: str
    # The model's decision threshold on `probability_positive` that gave `label` (from its signed manifest).
    threshold: float = Field(..., ge=0.0, le=1.0)


class PredictionRecord(Prediction):
    """What the worker stores in Redis so that feedback can refer to a prediction later."""

    # Optional in a stored record: records outlive a worker upgrade (prediction_ttl_s) and feedback takes older ones.
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    text: str
    created_at: datetime
    request_id: str | None = None


class PredictCall(BaseModel):
    """One entry of the prediction call stream: the tweets of one or more coalesced HTTP requests."""

    call_id: str
    reply_to: str  # the pub/sub channel of the gateway process that waits
    texts: list[str]
    request_ids: list[str]  # one per tweet: each prediction is recorded with its own request's id
    sent_at: float  # epoch seconds
    deadline: float  # epoch seconds; a call read later is dropped: its caller has had its 503

    @model_validator(mode="after")
    def _one_request_id_per_text(self) -> PredictCall:
        if len(self.request_ids) != len(self.texts):
            raise ValueError(f"request_ids has {len(self.request_ids)} entries for {len(self.texts)} texts")
        return self


class PredictReply(BaseModel):
    """A worker's answer to one call: a prediction per tweet, in order, or why there is none."""

    call_id: str
    predictions: list[Prediction] = Field(default_factory=list)
    error: str | None = None


class PredictBatchResponse(BaseModel):
    predictions: list[Prediction]


class FeedbackRecord(BaseModel):
    feedback_id: str
    prediction_id: str
    predicted_label: Label
    correct_label: Label
    is_misprediction: bool
    comment: str | None = None
    analyst: str = Field(..., description="Who flagged it: the name their API key carries, never the key.")
    created_at: datetime
    updated_at: datetime


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"  # by an admin (DELETE /admin/training-jobs/{id}); never run or resumed again


FINISHED_JOB_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class TrainingJob(BaseModel):
    job_id: str
    family: TrainingFamily
    params: dict[str, Any] = Field(default_factory=dict)
    state: JobState = JobState.queued
    progress_current: int = 0
    progress_total: int = 0
    progress_message: str = ""
    mlflow_run_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    promoted: bool = False
    # The promotion decision the training worker made for this version (champion compared, reason), when it made one.
    promotion: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    # The Celery task id of the message that runs (or will run) this job: what a cancellation revokes.
    task_id: str | None = None
    created_at: datetime
    updated_at: datetime


class ModelVersionInfo(BaseModel):
    name: str
    version: str
    aliases: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    run_id: str | None = None
    created_at: datetime | None = None


# --- Events on Redis Streams -----------------------------------------------------------------


class MispredictionEvent(Message):
    event_id: str = Field(default_factory=new_id)
    prediction_id: str
    feedback_id: str
    text: str
    predicted_label: Label
    probability_positive: float
    correct_label: Label
    model_name: str
    model_version: str
    analyst: str = Field(..., description="Who flagged it: the name their API key carries, never the key.")
    occurred_at: datetime = Field(default_factory=utc_now)


class ModelPromotedEvent(Message):
    event_id: str = Field(default_factory=new_id)
    family: TrainingFamily
    model_name: str
    model_version: str
    alias: str = "champion"
    precision: float
    embedding_type: str | None = None
    previous_version: str | None = None
    occurred_at: datetime = Field(default_factory=utc_now)


# --- Alerting: reports of misprediction bursts (written by alerting, read by gateway and UI) --


class AlertReportState(StrEnum):
    pending = "pending"  # stored, not tried yet
    retrying = "retrying"  # a send failed; tried again at `next_attempt_at`
    sent = "sent"  # handed to the SMTP server, or written to the outbox


class ReportedModel(BaseModel):
    name: str
    version: str
    run_id: str | None = None
    run_url: str | None = None


class AlertReport(BaseModel):
    """One email about a burst of mispredictions; stored before it is sent so that a crash never loses it."""

    report_id: str
    state: AlertReportState = AlertReportState.pending
    subject: str
    stream_ids: list[str]
    events: list[MispredictionEvent]
    models: list[ReportedModel] = Field(default_factory=list)
    threshold: int
    window_s: float
    window_start: datetime
    window_end: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_via: Literal["smtp", "outbox"] | None = None
    delivered_to: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None


class AlertingStatus(BaseModel):
    """The alerting process's heartbeat: its rule and where its mail goes."""

    consumer: str
    threshold: int
    window_s: float
    cooldown_s: float
    delivery: Literal["smtp", "outbox"]
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


# --- GET /models -----------------------------------------------------------------------------


class RegisteredVersion(ModelVersionInfo):
    """A version as GET /models lists it: its family, whether it is its champion, whether inference serves it."""

    family: TrainingFamily
    is_champion: bool = Field(False, description="Holds its model's champion alias.")
    serving: bool = Field(False, description="The LSTM champion: what the inference workers serve.")


class ModelsOverview(BaseModel):
    serving_model: str | None = Field(None, description="Registered model name that inference serves.")
    serving_version: str | None = None
    champions: dict[str, str | None] = Field(default_factory=dict, description="Family -> champion version.")
    versions: list[RegisteredVersion] = Field(default_factory=list)


class Readiness(BaseModel):
    """GET /ready's body, answered with 200 when ready and 503 otherwise; `problems` says what is missing."""

    ready: bool
    redis: bool = False
    workers: int = 0
    model_loaded: bool = False
    model_name: str | None = None
    model_version: str | None = None
    embedding_type: str | None = None
    registry_ok: bool | None = None
    problems: list[str] = Field(default_factory=list)
