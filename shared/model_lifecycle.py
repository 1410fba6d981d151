"""Moves of a model's aliases, each recorded in its history: challenge, promotion, retirement, rollback.

The one way to move `@champion` or `@challenger`, for training's promotion, the training worker's gate and an
admin's call alike. A promotion or rollback publishes a ModelPromotedEvent, on which inference workers reload
(they also re-read the aliases every ALIAS_POLL_INTERVAL_S). Moves of one model are serialized by a Redis lock, so
the gate and an admin cannot promote and retire the same challenger at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import redis
from mlflow import MlflowClient

from shared import events, redis_keys
from shared.families import TrainingFamily
from shared.logging_setup import kv
from shared.promotion_gate import PromotionPolicySettings, judge
from shared.registry import (
    CHALLENGER_ALIAS,
    CHALLENGER_SINCE_TAG,
    EMBEDDING_TYPE_TAG,
    FAMILY_TAG,
    OFFLINE_COMPARISON_TAG,
    RETIRED_TAG,
    TEST_PRECISION_TAG,
    append_history,
    champion_version,
    delete_alias,
    read_history,
    set_alias,
    set_version_tags,
)
from shared.schemas.base import utc_now
from shared.schemas.events import ModelPromotedEvent
from shared.schemas.lifecycle import Actor, ChallengerStatus, LifecycleAction, LifecycleEvent
from shared.shadow_stats import ShadowStore

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
LOCK_TTL_S = 60
LOCK_WAIT_S = 15.0


class LifecycleConflict(Exception):
    """The move does not apply to the model as it is now (no challenger, no earlier champion...): the message says."""


@contextlib.contextmanager
def model_lock(client: redis.Redis | None, model_name: str) -> Iterator[None]:
    """One alias move of `model_name` at a time across processes; no lock without Redis (a one-off CLI run)."""
    if client is None:
        yield
        return
    key, token = redis_keys.model_lifecycle_lock(model_name), uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_WAIT_S
    while not client.set(key, token, nx=True, ex=LOCK_TTL_S):
        if time.monotonic() > deadline:
            raise LifecycleConflict(f"another change of {model_name} is in progress: retry in a few seconds")
        time.sleep(0.1)
    try:
        yield
    finally:
        with contextlib.suppress(redis.RedisError):
            if client.get(key) == token.encode():
                client.delete(key)


def _record(
    client: MlflowClient,
    action: LifecycleAction,
    model_name: str,
    from_version: str | None,
    to_version: str | None,
    actor: Actor,
    reason: str,
    figures: dict[str, Any] | None,
) -> LifecycleEvent:
    event = LifecycleEvent(
        action=action,
        model_name=model_name,
        from_version=from_version,
        to_version=to_version,
        actor=actor,
        reason=reason[:1000],
        figures=json.loads(json.dumps(figures or {}, default=str)),
    )
    append_history(client, model_name, event.event_id, int(event.at.timestamp() * 1000), event.model_dump_json())
    log.info(
        "model %s %s",
        action,
        kv(model=model_name, from_version=from_version, to_version=to_version, by=f"{actor.kind}:{actor.name}"),
    )
    return event


def history(client: MlflowClient, model_name: str) -> list[LifecycleEvent]:
    """Every recorded move, newest first (the newest HISTORY_MAX_EVENTS)."""
    return [LifecycleEvent.model_validate_json(raw) for raw in read_history(client, model_name)]


def current_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    info = champion_version(client, model_name, alias)
    return info.version if info else None


def _publish_move(
    client: MlflowClient,
    redis_client: redis.Redis | None,
    model_name: str,
    version: str,
    previous: str | None,
    family: TrainingFamily | None,
    alias: str,
) -> None:
    """`version` now holds `alias`: workers load it (as champion, or as challenger to shadow-score) on the event."""
    if redis_client is None:
        return
    tags = client.get_model_version(model_name, version).tags or {}
    event = ModelPromotedEvent(
        family=family or tags.get(FAMILY_TAG, "lstm"),
        model_name=model_name,
        model_version=version,
        alias=alias,
        precision=float(tags.get(TEST_PRECISION_TAG, 0.0) or 0.0),
        embedding_type=tags.get(EMBEDDING_TYPE_TAG),
        previous_version=previous,
    )
    events.publish(redis_client, events.MODEL_PROMOTED_STREAM, event)


def promote(
    client: MlflowClient,
    redis_client: redis.Redis | None,
    model_name: str,
    version: str,
    actor: Actor,
    reason: str,
    figures: dict[str, Any] | None = None,
    family: TrainingFamily | None = None,
    champion_alias: str = CHAMPION_ALIAS,
) -> LifecycleEvent:
    """`version` takes `@champion` (and leaves `@challenger` if it held it); workers reload on the event."""
    with model_lock(redis_client, model_name):
        previous = current_version(client, model_name, champion_alias)
        if previous == version:
            raise LifecycleConflict(f"{model_name} v{version} is already the champion")
        set_alias(client, model_name, champion_alias, version)
        if current_version(client, model_name, CHALLENGER_ALIAS) == version:
            delete_alias(client, model_name, CHALLENGER_ALIAS)
        event = _record(client, "promotion", model_name, previous, version, actor, reason, figures)
        _publish_move(client, redis_client, model_name, version, previous, family, champion_alias)
    return event


def challenge(
    client: MlflowClient,
    redis_client: redis.Redis | None,
    model_name: str,
    version: str,
    actor: Actor,
    offline: dict[str, Any],
    champion_alias: str = CHAMPION_ALIAS,
) -> LifecycleEvent:
    """`version` takes `@challenger`, to be shadow-scored; a challenger it replaces is retired."""
    with model_lock(redis_client, model_name):
        champion = current_version(client, model_name, champion_alias)
        replaced = current_version(client, model_name, CHALLENGER_ALIAS)
        if replaced is not None and replaced != version:
            _retire_locked(client, model_name, replaced, actor, f"replaced by the newer challenger v{version}", {})
        set_version_tags(
            client,
            model_name,
            version,
            {
                CHALLENGER_SINCE_TAG: utc_now().isoformat(),
                OFFLINE_COMPARISON_TAG: json.dumps({**offline, "champion_version": champion}, default=str)[:4900],
            },
        )
        set_alias(client, model_name, CHALLENGER_ALIAS, version)
        event = _record(
            client,
            "challenge",
            model_name,
            champion,
            version,
            actor,
            str(offline.get("reason", "")),
            {"offline": offline},
        )
        # Workers start shadow-scoring on it now rather than at their next alias poll.
        _publish_move(client, redis_client, model_name, version, champion, None, CHALLENGER_ALIAS)
    return event


def _retire_locked(
    client: MlflowClient, model_name: str, version: str, actor: Actor, reason: str, figures: dict[str, Any]
) -> LifecycleEvent:
    if current_version(client, model_name, CHALLENGER_ALIAS) == version:
        delete_alias(client, model_name, CHALLENGER_ALIAS)
    set_version_tags(client, model_name, version, {RETIRED_TAG: reason[:500]})
    return _record(client, "retirement", model_name, version, None, actor, reason, figures)


def retire(
    client: MlflowClient,
    redis_client: redis.Redis | None,
    model_name: str,
    version: str,
    actor: Actor,
    reason: str,
    figures: dict[str, Any] | None = None,
    champion_alias: str = CHAMPION_ALIAS,
) -> LifecycleEvent:
    """`version` (the challenger) leaves `@challenger` for good, with the reason on the version and in history."""
    with model_lock(redis_client, model_name):
        if current_version(client, model_name, champion_alias) == version:
            raise LifecycleConflict(f"{model_name} v{version} is the champion: roll back or promote another first")
        return _retire_locked(client, model_name, version, actor, reason, figures or {})


def previous_champion(events_newest_first: list[LifecycleEvent], champion: str) -> str | None:
    """The version that was champion before `champion` last became it by a promotion."""
    for event in events_newest_first:
        if event.action == "promotion" and event.to_version == champion:
            return event.from_version
    return None


def rollback(
    client: MlflowClient,
    redis_client: redis.Redis | None,
    model_name: str,
    actor: Actor,
    reason: str,
    champion_alias: str = CHAMPION_ALIAS,
) -> LifecycleEvent:
    """`@champion` goes back to the version it held before the current champion was promoted."""
    with model_lock(redis_client, model_name):
        champion = current_version(client, model_name, champion_alias)
        if champion is None:
            raise LifecycleConflict(f"{model_name} has no champion to roll back")
        target = previous_champion(history(client, model_name), champion)
        if target is None:
            raise LifecycleConflict(f"{model_name} v{champion} has no earlier champion in its history to go back to")
        set_alias(client, model_name, champion_alias, target)
        event = _record(client, "rollback", model_name, champion, target, actor, reason, {})
        _publish_move(client, redis_client, model_name, target, champion, None, champion_alias)
    return event


def challenger_status(
    client: MlflowClient,
    redis_client: redis.Redis,
    model_name: str,
    policy: PromotionPolicySettings,
    champion_alias: str = CHAMPION_ALIAS,
) -> ChallengerStatus:
    """The challenger as the gate sees it now: offline comparison, shadow figures, and the gate's verdict."""
    champion = current_version(client, model_name, champion_alias)
    status = ChallengerStatus(model_name=model_name, champion_version=champion, gate_policy=policy.promotion_gate)
    challenger = champion_version(client, model_name, CHALLENGER_ALIAS)
    if challenger is None:
        return status
    offline = json.loads(challenger.tags.get(OFFLINE_COMPARISON_TAG) or "{}")
    since_tag = challenger.tags.get(CHALLENGER_SINCE_TAG)
    since = datetime.fromisoformat(since_tag) if since_tag else (challenger.created_at or status.at)
    figures = ShadowStore(redis_client).figures(model_name, challenger.version)
    if figures is not None:
        figures.champion.version = champion
    status.challenger_version = challenger.version
    status.challenger_since = since
    status.offline = offline
    status.figures = figures
    status.verdict = judge(offline, champion, figures, since, status.at, policy)
    return status
