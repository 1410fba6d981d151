"""A model's life after training: the challenger's shadow figures, the gate's verdict, and the history of its moves."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.schemas.base import new_id, utc_now

LifecycleAction = Literal["challenge", "promotion", "rollback", "retirement"]
# A person (the name their API key carries), the promotion policy (training's offline rule or the shadow gate), or
# an alert (a misprediction report that queued the training job).
ActorKind = Literal["person", "policy", "alert"]


class Actor(BaseModel):
    kind: ActorKind
    name: str = Field(..., description="The API key's name, the policy's name, or the alert's report id.")


class LifecycleEvent(BaseModel):
    """One move of a model's aliases, as GET /models/{name}/history lists it."""

    event_id: str = Field(default_factory=new_id)
    action: LifecycleAction
    model_name: str
    from_version: str | None = Field(None, description="The champion before (the challenger, for a retirement).")
    to_version: str | None = Field(None, description="The champion after (or the new challenger).")
    actor: Actor
    reason: str
    figures: dict[str, Any] = Field(default_factory=dict, description="The offline and shadow figures behind it.")
    at: datetime = Field(default_factory=utc_now)


class ModelFiguresLive(BaseModel):
    """One model's figures on the shadow-scored calls: latency of its model call, and its labelled quality."""

    version: str | None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    labelled: int = Field(0, description="Shadow-scored predictions an analyst has since flagged or confirmed.")
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    precision: float | None = Field(None, description="Of 'positive' on labelled predictions; None with none said.")
    recall: float | None = Field(None, description="Of 'positive' on labelled predictions; None with no positive.")


class ShadowFigures(BaseModel):
    """What inference workers measured of one challenger version beside the champion, since its first shadow call."""

    model_name: str
    challenger_version: str
    since: datetime | None = None
    shadow_calls: int = Field(0, description="Model calls scored by the challenger as well as the champion.")
    shadow_tweets: int = 0
    skipped_calls: int = Field(0, description="Sampled calls not scored: the shadow queue was behind or over budget.")
    agreement: float | None = Field(None, description="Share of shadow-scored tweets both models labelled alike.")
    champion: ModelFiguresLive
    challenger: ModelFiguresLive


class GateVerdict(BaseModel):
    action: Literal["wait", "promote", "retire"]
    reason: str


class ChallengerStatus(BaseModel):
    """GET /models/challenger: the served model's challenger, its live figures beside the champion's, the gate."""

    model_name: str
    champion_version: str | None = None
    challenger_version: str | None = None
    challenger_since: datetime | None = None
    offline: dict[str, Any] = Field(default_factory=dict, description="The offline comparison that made it challenger.")
    figures: ShadowFigures | None = None
    gate_policy: Literal["auto", "manual"]
    verdict: GateVerdict | None = Field(None, description="What the gate decides on these figures now.")
    at: datetime = Field(default_factory=utc_now)


class ModelHistory(BaseModel):
    model_name: str
    champion_version: str | None = None
    challenger_version: str | None = None
    events: list[LifecycleEvent] = Field(default_factory=list, description="Newest first.")


class ModelActionRequest(BaseModel):
    """Body of POST /admin/models/{name}/promote|retire|rollback (every field optional)."""

    model_config = {"extra": "forbid"}
    version: str | None = Field(
        None, pattern=r"^[0-9]{1,9}$", description="promote/retire: this version rather than the current challenger."
    )
    reason: str | None = Field(None, max_length=500, description="Why; kept in the history.")
