"""Promotion: a new version takes its model's `champion` alias only when it wins on the business KPI.

The KPI is precision of "positive": each version is served at a threshold chosen for the target precision, and
the deciding figure is recall at that target precision, on the same test split for both models. A version whose
own threshold misses the target by more than `MAX_PRECISION_SHORTFALL` on test, or that hardly ever says
"positive", is never promoted, whatever the champion: a model that rarely says "positive" is no answer.

A winner of the served family takes `@challenger` rather than `@champion` when PROMOTION_MODE is `shadow` and a
trusted champion exists: inference workers then score it beside the champion on live calls, and the gate
(training_worker/gate.py) promotes or retires it. Every move goes through shared/model_lifecycle.py.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import redis
from mlflow import MlflowClient

from sentiment_model.manifest import ModelNotTrusted
from shared.families import TrainingFamily
from shared.jobs import JobStore
from shared.logging_setup import kv
from shared.model_lifecycle import challenge, promote
from shared.registry import champion_version
from shared.schemas.lifecycle import Actor
from training_worker.evaluation import classification_metrics
from training_worker.registered_models import load_verified, verified_manifest
from training_worker.splits import Split

log = logging.getLogger(__name__)

MAX_PRECISION_SHORTFALL = 0.02
MIN_RECALL = 0.2
# The family inference serves: the only one whose winners are shadow-scored before they take `@champion`.
SERVED_FAMILY: TrainingFamily = "lstm"
OFFLINE_POLICY = Actor(kind="policy", name="offline promotion rule")


@dataclass(frozen=True)
class ModelFigures:
    """One model's test figures at its own threshold, and where they come from."""

    version: str
    threshold: float
    precision: float
    recall: float
    recall_at_target: float
    source: str  # "this run", "signed manifest" or "re-scored on this split"

    @classmethod
    def from_metrics(cls, version: str, metrics: dict[str, float], source: str) -> ModelFigures:
        return cls(
            version=version,
            threshold=float(metrics["test_threshold"]),
            precision=float(metrics["test_precision"]),
            recall=float(metrics["test_recall"]),
            recall_at_target=float(metrics["test_recall_at_target_precision"]),
            source=source,
        )


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    reason: str
    target_precision: float
    candidate: ModelFigures
    champion: ModelFigures | None
    # True when the winner took `@challenger` to be shadow-scored (then `promoted` is False until the gate decides).
    challenger: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decide(candidate: ModelFigures, champion: ModelFigures | None, target_precision: float) -> PromotionDecision:
    """The rule itself, on figures alone."""

    def outcome(promoted: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(promoted, reason, target_precision, candidate, champion)

    floor = target_precision - MAX_PRECISION_SHORTFALL
    if candidate.precision < floor:
        return outcome(
            False, f"refused: test precision {candidate.precision:.3f} at its threshold is below {floor:.2f}"
        )
    if candidate.recall < MIN_RECALL:
        return outcome(False, f"refused: test recall {candidate.recall:.3f} at its threshold is below {MIN_RECALL}")
    if champion is None:
        return outcome(True, "promoted: no trusted champion to beat")
    if candidate.recall_at_target > champion.recall_at_target:
        return outcome(
            True,
            f"promoted: recall at precision {target_precision:.2f} {candidate.recall_at_target:.3f} beats "
            f"the champion's {champion.recall_at_target:.3f}",
        )
    return outcome(
        False,
        f"not promoted: recall at precision {target_precision:.2f} {candidate.recall_at_target:.3f} does not beat "
        f"the champion's {champion.recall_at_target:.3f}",
    )


def champion_figures(
    model_name: str, version: str, split: Split, signing_key: str, target_precision: float
) -> ModelFigures:
    """The champion's figures on `split`: its signed ones when the split is the same, else re-measured."""
    manifest = verified_manifest(model_name, version, signing_key)
    recorded = manifest.metadata
    same_split = recorded.get("split_hash") == split.split_hash
    if same_split and recorded.get("target_precision") == target_precision and "test_threshold" in recorded:
        return ModelFigures.from_metrics(version, recorded, "signed manifest")
    # Another split (other data or seed) or another target: score the champion on this run's test set.
    with tempfile.TemporaryDirectory() as tmp:
        champion = load_verified(model_name, version, signing_key, Path(tmp))
        scores = champion.model.predict_proba(list(split.test_texts))
    threshold = float(recorded.get("threshold", champion.model.threshold))
    metrics = classification_metrics(split.test_labels, scores, threshold, target_precision=target_precision)
    return ModelFigures.from_metrics(version, metrics, "re-scored on this split")


def actor_of_job(redis_client: redis.Redis | None, job_id: str | None) -> Actor:
    """Who a winning version's move is credited to: the alert report or admin that queued its job, else the rule."""
    job = JobStore(redis_client).get(job_id) if redis_client is not None and job_id else None
    trigger = job.triggered_by if job else None
    if trigger is None:
        return OFFLINE_POLICY
    if trigger.kind == "alert":
        return Actor(kind="alert", name=f"report {trigger.report_id}" if trigger.report_id else trigger.by)
    return Actor(kind="person", name=trigger.by)


def promote_if_better(
    client: MlflowClient,
    redis_client: redis.Redis | None,
    family: TrainingFamily,
    model_name: str,
    version: str,
    candidate_metrics: dict[str, float],
    split: Split,
    signing_key: str,
    target_precision: float,
    alias: str = "champion",
    mode: Literal["shadow", "direct"] = "direct",
    job_id: str | None = None,
) -> PromotionDecision:
    candidate = ModelFigures.from_metrics(version, candidate_metrics, "this run")
    current = champion_version(client, model_name, alias)
    champion: ModelFigures | None = None
    untrusted_reason = ""
    if current is not None:
        try:
            champion = champion_figures(model_name, current.version, split, signing_key, target_precision)
        except ModelNotTrusted as exc:
            untrusted_reason = f" (champion v{current.version} not trusted: {exc})"
            log.warning("champion not trusted %s", kv(model=model_name, version=current.version, error=exc))
    decision = decide(candidate, champion, target_precision)
    if untrusted_reason:
        decision = PromotionDecision(
            decision.promoted, decision.reason + untrusted_reason, target_precision, candidate, None
        )
    log.info(
        "promotion decided %s",
        kv(model=model_name, version=version, promoted=decision.promoted, reason=decision.reason),
    )
    if not decision.promoted:
        return decision
    actor = actor_of_job(redis_client, job_id)
    if mode == "shadow" and family == SERVED_FAMILY and champion is not None:
        offline = {
            "promoted": True,
            "reason": decision.reason,
            "target_precision": target_precision,
            "candidate_recall_at_target": candidate.recall_at_target,
            "champion_recall_at_target": champion.recall_at_target,
            "job_id": job_id,
        }
        challenge(client, redis_client, model_name, version, actor, offline, champion_alias=alias)
        return replace(
            decision,
            promoted=False,
            challenger=True,
            reason=f"challenger: {decision.reason}; shadow-scored on live calls before the gate decides",
        )
    promote(
        client,
        redis_client,
        model_name,
        version,
        actor,
        decision.reason,
        {"offline": decision.as_dict(), "job_id": job_id},
        family=family,
        champion_alias=alias,
    )
    return decision
