"""The prediction log's messages: the entries on its Redis Stream, a logged row, and the API's pages and buckets.

Free of SQLAlchemy, so that the inference worker (which only XADDs) and the UI (which only reads the API) can use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.schemas.base import Label

Order = Literal["newest", "uncertainty"]
Bucket = Literal["hour", "day"]


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC already (the log stores naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_EARLIEST_QUERY_YEAR, _LATEST_QUERY_YEAR = 1970, 9998


def _query_moment(moment: datetime) -> datetime:
    # Near year 1 or 9999 converting to UTC, or a default span around it, overflows datetime.
    if not _EARLIEST_QUERY_YEAR <= moment.year <= _LATEST_QUERY_YEAR:
        raise ValueError(f"a moment between the years {_EARLIEST_QUERY_YEAR} and {_LATEST_QUERY_YEAR}")
    return as_utc(moment)


# A `from`/`to` of a log query: aware UTC, within years a log can hold, so that comparing and spanning them is safe.
QueryMoment = Annotated[datetime, AfterValidator(_query_moment)]


class LoggedPredictionIn(BaseModel):
    """One answered prediction as the inference worker appends it to the log stream."""

    model_config = ConfigDict(extra="ignore")

    prediction_id: str = Field(..., min_length=1, max_length=64)
    text: str
    label: Label
    probability_positive: float = Field(..., ge=0.0, le=1.0)
    # None only for a row first known from its feedback (its decision threshold was not in the Redis record).
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    model_name: str
    model_version: str
    request_id: str | None = None
    caller: str | None = None  # the name the caller's API key carries, never the key; None for an anonymous call
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class LoggedPrediction(LoggedPredictionIn):
    """A row of the prediction log, with what the log adds: the airline addressed, uncertainty, feedback state."""

    airline: str | None = None
    # |probability_positive - threshold|: the review queue's order, nearest the threshold first.
    uncertainty: float
    feedback_label: Label | None = None
    feedback_by: str | None = None
    feedback_at: datetime | None = None
    is_misprediction: bool | None = None

    @field_validator("feedback_at")
    @classmethod
    def _utc_feedback(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


class FeedbackLogEntry(BaseModel):
    """An analyst's verdict on a prediction as the gateway appends it to the log stream (idempotent to apply).

    It carries the prediction as feedback found it, so that the log can hold the row even when the verdict is
    applied before the prediction's own entry (a writer that claimed entries out of order)."""

    model_config = ConfigDict(extra="ignore")

    prediction: LoggedPredictionIn
    correct_label: Label
    analyst: str
    at: datetime

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class PredictionFilters(BaseModel):
    """What `GET /predictions`, its export and the store's queries filter on; every field optional."""

    model_config = ConfigDict(extra="forbid")

    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    label: Label | None = None
    model_version: str | None = None
    flagged: bool | None = None  # True: an analyst said it was wrong; False: not (yet) flagged wrong
    airline: str | None = None
    text_contains: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("created_from", "created_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


class PredictionPage(BaseModel):
    """One page of the review queue; `next_cursor` fetches the next, None on the last page."""

    predictions: list[LoggedPrediction]
    next_cursor: str | None = None


class SentimentBucket(BaseModel):
    """Predictions of one model version in one time bucket."""

    bucket_start: datetime
    model_version: str
    count: int
    positive: int
    positive_share: float
    flagged: int  # flagged wrong by an analyst
    flag_rate: float


class SentimentStats(BaseModel):
    bucket: Bucket
    created_from: datetime
    created_to: datetime
    airline: str | None = None
    buckets: list[SentimentBucket]


class FeedbackExample(BaseModel):
    """A labelled example for training: a tweet and the label an analyst gave it (a correction or a confirmation)."""

    prediction_id: str
    text: str
    label: Label  # the analyst's
    predicted_label: Label
    is_misprediction: bool
    analyst: str | None
    at: datetime
