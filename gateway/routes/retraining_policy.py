"""Admin routes for the retraining policy: see what alerting would do on the next report, pause it, resume it."""

from __future__ import annotations

import logging

import redis
from fastapi import APIRouter, Request

from gateway.deps import AdminRole, RedisDep, SettingsDep
from gateway.errors import NEEDS_ADMIN, REDIS_DOWN, unavailable
from shared.logging_setup import kv
from shared.retraining_policy import RetrainingPolicyStore
from shared.schemas.retraining import RetrainingPolicyUpdate, RetrainingPolicyView

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", tags=["admin"])

AUTH = {**NEEDS_ADMIN, **REDIS_DOWN}


@router.get("/retraining-policy", response_model=RetrainingPolicyView, responses=AUTH)
def get_retraining_policy(role: AdminRole, settings: SettingsDep, redis_client: RedisDep) -> RetrainingPolicyView:
    """Alerting's policy (null while alerting is not running), whether it is paused, the corrections it has not
    counted yet, its last automatic job and when the rate limit allows the next."""
    try:
        return RetrainingPolicyStore(redis_client).view()
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable", settings.retry_after_s) from exc


@router.post("/retraining-policy", response_model=RetrainingPolicyView, responses=AUTH)
def update_retraining_policy(
    body: RetrainingPolicyUpdate, request: Request, role: AdminRole, settings: SettingsDep, redis_client: RedisDep
) -> RetrainingPolicyView:
    """Pause (`{"paused": true}`) or resume (`{"paused": false}`) automatic retraining; kept across restarts."""
    store = RetrainingPolicyStore(redis_client)
    try:
        store.set_paused(body.paused, by=role.name)
        view = store.view()
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable, the policy was not changed", settings.retry_after_s) from exc
    log.info(
        "retraining policy %s %s",
        "paused" if body.paused else "resumed",
        kv(by=role.name, request_id=getattr(request.state, "request_id", None)),
    )
    return view
