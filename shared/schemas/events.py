"""Events on Redis Streams: versioned and strict about unknown fields."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.families import TrainingFamily
from shared.schemas.base import SCHEMA_VERSION, Label, new_id, utc_now


class Message(BaseModel):
    """Base of every event and task payload: versioned and strict about unknown fields."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = SCHEMA_VERSION


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
