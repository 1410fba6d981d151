"""GET /stats/drift: the rolling statistics of what each served version answers, with its test split's beside;
GET /stats/sentiment: counts, positive share and flag rate over time, from the prediction log."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import redis
from fastapi import APIRouter, Query
from sqlalchemy.exc import SQLAlchemyError

from gateway.deps import AnalystRole, PredictionLogDep, RedisDep, SettingsDep
from gateway.errors import LOG_DOWN, NEEDS_KEY, REDIS_DOWN, invalid_query, unavailable
from shared.drift import served_drift
from shared.schemas.base import utc_now
from shared.schemas.drift import DriftOverview
from shared.schemas.prediction_log import Bucket, QueryMoment, SentimentStats

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get("/drift", response_model=DriftOverview, responses={**NEEDS_KEY, **REDIS_DOWN})
def drift(role: AnalystRole, settings: SettingsDep, redis_client: RedisDep) -> DriftOverview:
    """Per served version, summed over the live inference workers' windows: out-of-vocabulary share, positive share,
    mean tweet length, the probability histogram and its PSI against the version's test split (the reference)."""
    try:
        return DriftOverview(versions=served_drift(redis_client))
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable", settings.retry_after_s) from exc


# Buckets one answer may hold at most: a month of hours, or a year and a bit of days.
_MAX_BUCKETS = {"hour": 31 * 24, "day": 400}
_DEFAULT_SPAN = {"hour": timedelta(days=1), "day": timedelta(days=30)}


@router.get(
    "/sentiment",
    response_model=SentimentStats,
    responses={
        **NEEDS_KEY,
        **LOG_DOWN,
        422: {"description": "Unknown bucket, from not before to, or a range of too many buckets."},
    },
)
def sentiment(
    role: AnalystRole,
    settings: SettingsDep,
    log: PredictionLogDep,
    bucket: Annotated[Bucket, Query(description="hour or day (UTC).")] = "hour",
    created_from: Annotated[QueryMoment | None, Query(alias="from", description="Start (ISO 8601).")] = None,
    created_to: Annotated[QueryMoment | None, Query(alias="to", description="End, exclusive (default: now).")] = None,
    airline: Annotated[str | None, Query(max_length=32, description="Only tweets addressing it (e.g. united).")] = None,
) -> SentimentStats:
    """Per time bucket and model version: predictions, positive share, and the share flagged wrong by analysts.
    Defaults: the last day by hour, the last 30 days by day."""
    end = created_to or utc_now()
    start = created_from or end - _DEFAULT_SPAN[bucket]
    if start >= end:
        raise invalid_query("from", "from must be before to: pass an earlier from or a later to")
    span = (end - start) / (timedelta(hours=1) if bucket == "hour" else timedelta(days=1))
    if span > _MAX_BUCKETS[bucket]:
        raise invalid_query(
            "from",
            f"from..to spans {span:.0f} {bucket}s: at most {_MAX_BUCKETS[bucket]} per request; "
            "narrow the range or use bucket=day",
        )
    try:
        buckets = log.sentiment_stats(bucket, start, end, airline=airline.lower() if airline else None)
    except SQLAlchemyError as exc:
        raise unavailable("the prediction log is unreachable", settings.retry_after_s) from exc
    return SentimentStats(bucket=bucket, created_from=start, created_to=end, airline=airline, buckets=buckets)
