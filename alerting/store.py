"""Reports in Redis: stored (with what they answer for) in one transaction, then marked sent or retrying.

Two kinds share it, each under its own keys: misprediction reports and drift reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import redis

from shared import redis_keys
from shared.schemas.alerts import AlertReport, AlertReportState, MailedReport
from shared.schemas.drift import DriftReport

ReportT = TypeVar("ReportT", bound=MailedReport)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class ReportKeys:
    prefix: str  # + report id: the report's JSON
    index: str  # sorted set report_id -> created timestamp
    unsent: str  # set of the ids still to deliver: what a restart resends

    def report(self, report_id: str) -> str:
        return self.prefix + report_id


ALERT_REPORT_KEYS = ReportKeys(
    redis_keys.ALERT_REPORT_PREFIX, redis_keys.ALERT_REPORTS_INDEX, redis_keys.ALERT_REPORTS_UNSENT
)
DRIFT_REPORT_KEYS = ReportKeys(
    redis_keys.DRIFT_REPORT_PREFIX, redis_keys.DRIFT_REPORTS_INDEX, redis_keys.DRIFT_REPORTS_UNSENT
)


class ReportStore(Generic[ReportT]):
    def __init__(
        self,
        client: redis.Redis,
        model: type[ReportT] = AlertReport,  # type: ignore[assignment]
        keys: ReportKeys = ALERT_REPORT_KEYS,
    ) -> None:
        self.client = client
        self.model = model
        self.keys = keys

    def _stage(self, pipe: redis.client.Pipeline, report: ReportT) -> None:
        pipe.set(self.keys.report(report.report_id), report.model_dump_json())
        pipe.zadd(self.keys.index, {report.report_id: report.created_at.timestamp()})
        pipe.sadd(self.keys.unsent, report.report_id)

    def save_new(self, report: ReportT, acknowledge: Callable[[redis.client.Pipeline], None]) -> None:
        """The report and the acknowledgement of its events commit together: a crash before leaves the events
        pending (re-read on restart), a crash after leaves an unsent report (resent on restart); never both, never
        neither."""
        with self.client.pipeline(transaction=True) as pipe:
            self._stage(pipe, report)
            acknowledge(pipe)
            pipe.execute()

    def save_new_unless_cooling(self, report: ReportT, cooldown_key: str, cooldown_s: float) -> bool:
        """Store the report unless `cooldown_key` exists, and set it for `cooldown_s` in the same transaction;
        False when a cooldown (this process's or another's) held."""
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(cooldown_key)
                if pipe.exists(cooldown_key):
                    return False
                pipe.multi()
                self._stage(pipe, report)
                pipe.set(cooldown_key, report.report_id, ex=max(1, round(cooldown_s)))
                pipe.execute()
            except redis.WatchError:
                return False
        return True

    def update(self, report: ReportT) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.report(report.report_id), report.model_dump_json())
            if report.state == AlertReportState.sent:
                pipe.srem(self.keys.unsent, report.report_id)
            pipe.execute()

    def unsent(self) -> list[ReportT]:
        """Reports still to deliver, oldest first."""
        report_ids = sorted(_text(r) for r in self.client.smembers(self.keys.unsent))
        reports = []
        for report_id in report_ids:
            raw = self.client.get(self.keys.report(report_id))
            if raw is None:
                self.client.srem(self.keys.unsent, report_id)
                continue
            reports.append(self.model.model_validate_json(raw))
        return sorted(reports, key=lambda r: r.created_at)

    def created_since(self, since: datetime) -> list[ReportT]:
        """Reports made at or after `since`, oldest first."""
        report_ids = [_text(r) for r in self.client.zrangebyscore(self.keys.index, since.timestamp(), "+inf")]
        if not report_ids:
            return []
        raws = self.client.mget([self.keys.report(r) for r in report_ids])
        return [self.model.model_validate_json(raw) for raw in raws if raw is not None]

    def last_created_at(self) -> datetime | None:
        """When the newest report was made: a restart keeps honouring the cooldown it started."""
        newest = self.client.zrevrange(self.keys.index, 0, 0)
        if not newest:
            return None
        raw = self.client.get(self.keys.report(_text(newest[0])))
        return self.model.model_validate_json(raw).created_at if raw else None


def alert_reports(client: redis.Redis) -> ReportStore[AlertReport]:
    return ReportStore(client, AlertReport, ALERT_REPORT_KEYS)


def drift_reports(client: redis.Redis) -> ReportStore[DriftReport]:
    return ReportStore(client, DriftReport, DRIFT_REPORT_KEYS)
