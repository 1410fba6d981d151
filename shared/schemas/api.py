"""The HTTP API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.families import TrainingFamily
from shared.schemas.base import MAX_BATCH_TEXTS, MAX_TEXT_CHARS, Label, TweetText, check_tweet_text


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: TweetText = Field(..., description=f"The tweet, 1 to {MAX_TEXT_CHARS} characters.")

    @field_validator("text")
    @classmethod
    def _valid_text(cls, value: str) -> str:
        return check_tweet_text(value)


class PredictBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[TweetText] = Field(..., min_length=1, max_length=MAX_BATCH_TEXTS)

    @field_validator("texts")
    @classmethod
    def _valid_texts(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            try:
                check_tweet_text(value)
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


class Prediction(BaseModel):
    prediction_id: str
    label: Label
    probability_positive: float = Field(..., ge=0.0, le=1.0)
    model_name: str
    model_version: str
    embedding_type: str
    # The model's decision threshold on `probability_positive` that gave `label` (from its signed manifest).
    threshold: float = Field(..., ge=0.0, le=1.0)


class PredictBatchResponse(BaseModel):
    predictions: list[Prediction]


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"  # by an admin (DELETE /admin/training-jobs/{id}); never run or resumed again


FINISHED_JOB_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class JobTrigger(BaseModel):
    """Who queued a training job: an admin (by the name their key carries) or alerting's retraining policy, for
    one alert report."""

    kind: Literal["admin", "alert"]
    by: str = Field(..., description="The admin's key name, or `alerting`.")
    report_id: str | None = Field(None, description="The alert report that queued the job (kind `alert`).")


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
    # None on jobs recorded before triggers were.
    triggered_by: JobTrigger | None = None
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
