"""The prediction call stream between gateway and inference workers, and the record a worker keeps of an answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from shared.schemas.api import Prediction


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
    # One per tweet: the name the caller's API key carries (None: anonymous), for the prediction log. Optional so
    # that calls from a gateway that predates it still parse.
    callers: list[str | None] | None = None
    sent_at: float  # epoch seconds
    deadline: float  # epoch seconds; a call read later is dropped: its caller has had its 503

    @model_validator(mode="after")
    def _one_request_id_per_text(self) -> PredictCall:
        if len(self.request_ids) != len(self.texts):
            raise ValueError(f"request_ids has {len(self.request_ids)} entries for {len(self.texts)} texts")
        if self.callers is not None and len(self.callers) != len(self.texts):
            raise ValueError(f"callers has {len(self.callers)} entries for {len(self.texts)} texts")
        return self


class PredictReply(BaseModel):
    """A worker's answer to one call: a prediction per tweet, in order, or why there is none."""

    call_id: str
    predictions: list[Prediction] = Field(default_factory=list)
    error: str | None = None
