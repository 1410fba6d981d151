"""GET /stats/drift: the rolling statistics of what each served version answers, with its test split's beside."""

from __future__ import annotations

import redis
from fastapi import APIRouter

from gateway.deps import AnalystRole, RedisDep, SettingsDep
from gateway.errors import unavailable
from shared.drift import served_drift
from shared.schemas.drift import DriftOverview

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get(
    "/drift",
    response_model=DriftOverview,
    responses={
        401: {"description": "Missing or unknown API key."},
        503: {"description": "Redis is unreachable; see Retry-After."},
    },
)
def drift(role: AnalystRole, settings: SettingsDep, redis_client: RedisDep) -> DriftOverview:
    """Per served version, summed over the live inference workers' windows: out-of-vocabulary share, positive share,
    mean tweet length, the probability histogram and its PSI against the version's test split (the reference)."""
    try:
        return DriftOverview(versions=served_drift(redis_client))
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable", settings.retry_after_s) from exc
