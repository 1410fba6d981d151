"""GET /alerts: recent misprediction events, the alert reports with their delivery state, the alerting rule."""

from __future__ import annotations

import logging
from typing import Annotated

import redis
from fastapi import APIRouter, Query
from pydantic import ValidationError

from gateway.deps import AnalystRole, RedisDep, SettingsDep
from gateway.errors import NEEDS_KEY, REDIS_DOWN, unavailable
from shared import redis_keys
from shared.events import MISPREDICTIONS_STREAM, decode
from shared.logging_setup import kv
from shared.schemas.alerts import AlertingStatus, AlertReport, AlertsOverview, MispredictionEntry
from shared.schemas.events import MispredictionEvent

log = logging.getLogger(__name__)
router = APIRouter(tags=["alerts"])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _recent_events(client: redis.Redis, limit: int) -> list[MispredictionEntry]:
    entries = []
    for stream_id, fields in client.xrevrange(MISPREDICTIONS_STREAM, count=limit):
        try:
            entries.append(MispredictionEntry(stream_id=_text(stream_id), event=decode(fields, MispredictionEvent)))
        except (ValidationError, TypeError, ValueError):
            log.warning("skipping unreadable misprediction event %s", kv(stream_id=_text(stream_id)))
    return entries


def _recent_reports(client: redis.Redis, limit: int) -> list[AlertReport]:
    report_ids = [_text(r) for r in client.zrevrange(redis_keys.ALERT_REPORTS_INDEX, 0, limit - 1)]
    if not report_ids:
        return []
    reports = []
    for report_id, raw in zip(report_ids, client.mget([redis_keys.alert_report(r) for r in report_ids]), strict=True):
        if raw is None:
            continue
        try:
            reports.append(AlertReport.model_validate_json(raw))
        except ValidationError:
            log.warning("skipping unreadable alert report %s", kv(report_id=report_id))
    return reports


@router.get(
    "/alerts",
    response_model=AlertsOverview,
    responses={**NEEDS_KEY, **REDIS_DOWN},
)
def alerts(
    role: AnalystRole,
    settings: SettingsDep,
    redis_client: RedisDep,
    limit: Annotated[int, Query(ge=1, le=500, description="How many events and how many reports, newest first.")] = 50,
) -> AlertsOverview:
    """Misprediction events (newest first), alert reports (newest first) with their state: pending, retrying, sent."""
    try:
        events = _recent_events(redis_client, limit)
        reports = _recent_reports(redis_client, limit)
        unsent = int(redis_client.scard(redis_keys.ALERT_REPORTS_UNSENT))
        raw_status = redis_client.get(redis_keys.ALERTING_HEARTBEAT)
    except (redis.RedisError, OSError) as exc:
        raise unavailable("Redis is unreachable", settings.retry_after_s) from exc
    alerting = None
    if raw_status is not None:
        try:
            alerting = AlertingStatus.model_validate_json(raw_status)
        except ValidationError:
            alerting = None
    return AlertsOverview(events=events, reports=reports, unsent_reports=unsent, alerting=alerting)
