"""Alert reports in Redis: stored (with their events acknowledged) in one transaction, then marked sent or retrying."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import redis

from shared import redis_keys
from shared.schemas.alerts import AlertReport, AlertReportState


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ReportStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def save_new(self, report: AlertReport, acknowledge: Callable[[redis.client.Pipeline], None]) -> None:
        """The report and the acknowledgement of its events commit together: a crash before leaves the events
        pending (re-read on restart), a crash after leaves an unsent report (resent on restart); never both, never
        neither."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(redis_keys.alert_report(report.report_id), report.model_dump_json())
            pipe.zadd(redis_keys.ALERT_REPORTS_INDEX, {report.report_id: report.created_at.timestamp()})
            pipe.sadd(redis_keys.ALERT_REPORTS_UNSENT, report.report_id)
            acknowledge(pipe)
            pipe.execute()

    def update(self, report: AlertReport) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(redis_keys.alert_report(report.report_id), report.model_dump_json())
            if report.state == AlertReportState.sent:
                pipe.srem(redis_keys.ALERT_REPORTS_UNSENT, report.report_id)
            pipe.execute()

    def unsent(self) -> list[AlertReport]:
        """Reports still to deliver, oldest first."""
        report_ids = sorted(_text(r) for r in self.client.smembers(redis_keys.ALERT_REPORTS_UNSENT))
        reports = []
        for report_id in report_ids:
            raw = self.client.get(redis_keys.alert_report(report_id))
            if raw is None:
                self.client.srem(redis_keys.ALERT_REPORTS_UNSENT, report_id)
                continue
            reports.append(AlertReport.model_validate_json(raw))
        return sorted(reports, key=lambda r: r.created_at)

    def created_since(self, since: datetime) -> list[AlertReport]:
        """Reports made at or after `since`, oldest first."""
        report_ids = [
            _text(r) for r in self.client.zrangebyscore(redis_keys.ALERT_REPORTS_INDEX, since.timestamp(), "+inf")
        ]
        if not report_ids:
            return []
        raws = self.client.mget([redis_keys.alert_report(r) for r in report_ids])
        return [AlertReport.model_validate_json(raw) for raw in raws if raw is not None]

    def last_created_at(self) -> datetime | None:
        """When the newest report was made: a restart keeps honouring the cooldown it started."""
        newest = self.client.zrevrange(redis_keys.ALERT_REPORTS_INDEX, 0, 0)
        if not newest:
            return None
        raw = self.client.get(redis_keys.alert_report(_text(newest[0])))
        return AlertReport.model_validate_json(raw).created_at if raw else None
