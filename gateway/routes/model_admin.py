"""Model lifecycle routes: the challenger's live figures, each model's history, and an admin's promote, retire and
rollback (every move through shared/model_lifecycle.py, the same functions the training worker's gate calls)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

import redis
import requests
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, status
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from gateway.api_keys import Caller
from gateway.deps import AdminRole, AnalystRole, RedisDep, SettingsDep
from gateway.errors import NEEDS_KEY, unavailable
from gateway.settings import GatewaySettings
from shared import model_lifecycle
from shared.logging_setup import kv
from shared.schemas.lifecycle import Actor, ChallengerStatus, LifecycleEvent, ModelActionRequest, ModelHistory

log = logging.getLogger(__name__)
router = APIRouter(tags=["models"])

ModelName = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")]
ActionBody = Annotated[ModelActionRequest | None, Body()]
T = TypeVar("T")

READ = {
    **NEEDS_KEY,
    503: {"description": "The MLflow model registry or Redis is unreachable; see Retry-After."},
}
ADMIN = {
    **READ,
    403: {"description": "The key is not an admin key."},
    404: {"description": "No registered model (or version) of this name."},
    409: {"description": "The move does not apply now (no challenger, no earlier champion, a move in progress)."},
    422: {"description": "Invalid version or reason."},
}


def _registry_call(settings: GatewaySettings, call: Callable[[MlflowClient], T]) -> T:
    """Runs `call` on the registry; its outages answer 503 and a move that does not apply 409."""
    try:
        return call(MlflowClient(settings.mlflow_tracking_uri))
    except model_lifecycle.LifecycleConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"not in the registry: {exc.message[:200]}") from None
        raise _registry_down(settings, exc) from exc
    except (requests.RequestException, OSError) as exc:
        raise _registry_down(settings, exc) from exc
    except redis.RedisError as exc:
        raise unavailable("Redis is unreachable, nothing was changed", settings.retry_after_s) from exc


def _registry_down(settings: GatewaySettings, exc: Exception) -> HTTPException:
    log.warning("model registry unreachable %s", kv(uri=settings.mlflow_tracking_uri, error=exc.__class__.__name__))
    return unavailable(f"the model registry (MLflow) is unreachable: {exc.__class__.__name__}", settings.retry_after_s)


def _known(settings: GatewaySettings, name: str) -> str:
    names = sorted(settings.registered_model_names().values())
    if name not in names:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model {name!r}: use one of {', '.join(names)}")
    return name


def _person(caller: Caller) -> Actor:
    return Actor(kind="person", name=caller.name)


@router.get("/models/challenger", response_model=ChallengerStatus, responses=READ)
def challenger(role: AnalystRole, settings: SettingsDep, redis_client: RedisDep) -> ChallengerStatus:
    """The served model's challenger: its shadow-scored calls, agreement with the champion, both models' latency
    and labelled precision/recall, since when, and what the gate decides on these figures now."""
    return _registry_call(
        settings,
        lambda client: model_lifecycle.challenger_status(
            client, redis_client, settings.lstm_model_name, settings, settings.champion_alias
        ),
    )


@router.get("/models/{name}/history", response_model=ModelHistory, responses={**READ, 404: ADMIN[404]})
def history(name: ModelName, role: AnalystRole, settings: SettingsDep) -> ModelHistory:
    """Every promotion, rollback, retirement and challenge of the model, newest first: who, when, from which
    version to which, and the figures behind it."""
    _known(settings, name)

    def read(client: MlflowClient) -> ModelHistory:
        return ModelHistory(
            model_name=name,
            champion_version=model_lifecycle.current_version(client, name, settings.champion_alias),
            challenger_version=model_lifecycle.current_version(client, name, model_lifecycle.CHALLENGER_ALIAS),
            events=model_lifecycle.history(client, name),
        )

    return _registry_call(settings, read)


def _target(client: MlflowClient, name: str, body: ModelActionRequest | None, action: str) -> str:
    if body and body.version:
        client.get_model_version(name, body.version)  # 404 when it does not exist
        return body.version
    version = model_lifecycle.current_version(client, name, model_lifecycle.CHALLENGER_ALIAS)
    if version is None:
        raise model_lifecycle.LifecycleConflict(f"{name} has no challenger to {action}: name a version in the body")
    return version


def _figures(client: MlflowClient, redis_client: redis.Redis, name: str, version: str, settings: GatewaySettings):
    status_now = model_lifecycle.challenger_status(client, redis_client, name, settings, settings.champion_alias)
    if status_now.challenger_version != version:
        return {}
    return {
        "offline": status_now.offline,
        "shadow": status_now.figures.model_dump(mode="json") if status_now.figures else None,
        "gate_verdict": status_now.verdict.model_dump() if status_now.verdict else None,
    }


@dataclass(frozen=True)
class Move:
    """An admin's move of a known model: who asks, in which request, and the optional body (version, reason)."""

    name: str
    caller: Caller
    request_id: str | None
    settings: GatewaySettings
    redis_client: redis.Redis
    body: ModelActionRequest | None

    def reason(self, default: str) -> str:
        return (self.body.reason if self.body else None) or f"{default} by {self.caller.name}"

    def by_hand(self, action: Literal["promote", "retire"]) -> LifecycleEvent:
        """Promote or retire the challenger (or the version in the body), recorded with the caller and the figures."""
        lifecycle_move = model_lifecycle.promote if action == "promote" else model_lifecycle.retire

        def move(client: MlflowClient) -> LifecycleEvent:
            version = _target(client, self.name, self.body, action)
            figures = _figures(client, self.redis_client, self.name, version, self.settings)
            return lifecycle_move(
                client,
                self.redis_client,
                self.name,
                version,
                _person(self.caller),
                self.reason(f"{action}d"),
                figures,
                champion_alias=self.settings.champion_alias,
            )

        return _registry_call(self.settings, move)


def _move(
    name: ModelName,
    request: Request,
    caller: AdminRole,
    settings: SettingsDep,
    redis_client: RedisDep,
    body: ActionBody = None,
) -> Move:
    _known(settings, name)
    return Move(name, caller, request.state.request_id, settings, redis_client, body)


MoveDep = Annotated[Move, Depends(_move)]


@router.post("/admin/models/{name}/promote", response_model=LifecycleEvent, responses=ADMIN)
def promote(move: MoveDep) -> LifecycleEvent:
    """Make the challenger (or the version named in the body) the champion now, whatever the gate says; inference
    workers reload it on the promotion event."""
    event = move.by_hand("promote")
    log.info("model promoted by hand %s", kv(model=move.name, version=event.to_version, request_id=move.request_id))
    return event


@router.post("/admin/models/{name}/retire", response_model=LifecycleEvent, responses=ADMIN)
def retire(move: MoveDep) -> LifecycleEvent:
    """Take the challenger (or the version named) out of shadow scoring for good, with the reason recorded."""
    event = move.by_hand("retire")
    log.info("model retired by hand %s", kv(model=move.name, version=event.from_version, request_id=move.request_id))
    return event


@router.post("/admin/models/{name}/rollback", response_model=LifecycleEvent, responses=ADMIN)
def rollback(move: MoveDep) -> LifecycleEvent:
    """Move the champion back to the version it held before the current one was promoted, in one call; workers
    follow within their reload time (every answer names the version that computed it)."""
    event = _registry_call(
        move.settings,
        lambda client: model_lifecycle.rollback(
            client,
            move.redis_client,
            move.name,
            _person(move.caller),
            move.reason("rolled back"),
            champion_alias=move.settings.champion_alias,
        ),
    )
    log.info(
        "model rolled back %s",
        kv(model=move.name, from_version=event.from_version, to_version=event.to_version, request_id=move.request_id),
    )
    return event
