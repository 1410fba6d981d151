"""The alerting loop: events in, the window decides, reports are stored, then delivered until they go out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import redis

from alerting import metrics
from alerting.consumer import MispredictionConsumer, StreamEntry
from alerting.drift_report import render_drift_email
from alerting.drift_watch import DriftWatch
from alerting.mailer import DeliveryFailed, Mailer, backoff_s
from alerting.model_links import ModelLinks
from alerting.report import build_report, render_email
from alerting.retraining import ReportRetrainer
from alerting.settings import AlertingSettings
from alerting.store import ReportStore, ReportT, alert_reports
from alerting.window import Decision, SlidingWindow
from shared import redis_keys
from shared.logging_setup import kv
from shared.schemas.alerts import AlertingStatus, AlertReport, AlertReportState, MailedReport
from shared.schemas.base import new_id
from shared.schemas.events import MispredictionEvent

log = logging.getLogger(__name__)


def _due(store: ReportStore[ReportT], now: datetime) -> list[ReportT]:
    """The store's unsent reports whose next attempt is due (a new one's is at once)."""
    return [report for report in store.unsent() if report.next_attempt_at is None or report.next_attempt_at <= now]


def _store_attempt(
    store: ReportStore,
    report: MailedReport,
    attempts: int,
    now: datetime,
    state: AlertReportState,
    changes: dict[str, object],
) -> None:
    """Delivery attempt number `attempts`, its outcome (`state`) and what came with it, kept with the report."""
    store.update(report.model_copy(update={"attempts": attempts, "state": state, "updated_at": now, **changes}))


class AlertingService:
    def __init__(
        self,
        settings: AlertingSettings,
        client: redis.Redis,
        mailer: Mailer,
        links: ModelLinks,
        retrainer: ReportRetrainer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.mailer = mailer
        self.links = links
        self.retrainer = retrainer
        self.clock = clock
        self.consumer = MispredictionConsumer(
            client, settings.consumer_group, settings.consumer_name, start_id=settings.group_start_id
        )
        self.store = alert_reports(client)
        self.drift = DriftWatch(settings, client, clock)
        self.window = SlidingWindow(settings.alert_threshold, settings.alert_window_s, settings.alert_cooldown_s, clock)
        # Events in the window, waiting: still pending in the consumer group until a report holds them.
        self.waiting: dict[str, MispredictionEvent] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def start(self) -> None:
        """Join the group, honour the last report's cooldown, and take back what a previous run left pending."""
        self.consumer.ensure_group()
        # Rebuilt from scratch each time: after a Redis outage the pending list, not memory, is the truth.
        self.waiting = {}
        last = self.store.last_created_at()
        self.window = SlidingWindow(
            self.settings.alert_threshold,
            self.settings.alert_window_s,
            self.settings.alert_cooldown_s,
            self.clock,
            last_fired_at=last.timestamp() if last else None,
            reported=self._recently_reported(),
        )
        self._take(self.consumer.recover(self.settings.read_count))
        self._apply(self.window.tick())
        self.heartbeat()

    def step(self) -> None:
        entries = self.consumer.read(self.settings.read_count, self.settings.read_block_ms)
        self._take(entries)
        # Judge by the clock only once caught up: a backlog is first judged by its own event times.
        if len(entries) < self.settings.read_count:
            self._apply(self.window.tick())
        self.drift.check()
        self.deliver_due()
        self.heartbeat()

    def run(self, stop: threading.Event) -> None:
        started = False
        while not stop.is_set():
            try:
                if not started:
                    self.start()
                    started = True
                    self._log_started()
                self.step()
            except (redis.RedisError, OSError) as exc:
                # Nothing is lost while Redis is away: events stay pending in the group, reports stay stored;
                # once it is back, start() takes the pending list again.
                started = False
                log.warning("redis unavailable, retrying %s", kv(error=exc.__class__.__name__))
                stop.wait(1.0)

    def _log_started(self) -> None:
        log.info(
            "alerting started %s",
            kv(
                consumer=self.settings.consumer_name,
                threshold=self.settings.alert_threshold,
                window_s=self.settings.alert_window_s,
                cooldown_s=self.settings.alert_cooldown_s,
                delivery=self.mailer.kind,
                waiting=len(self.waiting),
            ),
        )

    def _take(self, entries: list[StreamEntry]) -> None:
        for entry in entries:
            if entry.event is None:
                # Unreadable forever (trimmed or malformed): keeping it pending would only replay it on each start.
                self.consumer.ack([entry.stream_id])
                continue
            if entry.stream_id in self.waiting:
                continue
            self.waiting[entry.stream_id] = entry.event
            metrics.EVENTS_READ.inc()
            log.info(
                "misprediction received %s",
                kv(
                    stream_id=entry.stream_id,
                    prediction_id=entry.event.prediction_id,
                    model_version=entry.event.model_version,
                    in_window=len(self.window) + 1,
                ),
            )
            event = entry.event
            self._apply(self.window.add(entry.stream_id, event.occurred_at.timestamp(), about=event.prediction_id))

    def _apply(self, decision: Decision) -> None:
        for stream_id in decision.duplicates:
            event = self.waiting.get(stream_id)
            log.info(
                "misprediction already counted %s",
                kv(
                    stream_id=stream_id,
                    prediction_id=event.prediction_id if event else None,
                    analyst=event.analyst if event else None,
                ),
            )
        # Too old to join any burst, or about a prediction already counted: acknowledged, still listed in the
        # stream for GET /alerts.
        done = decision.expired + decision.duplicates
        if done:
            self.consumer.ack(done)
            for stream_id in done:
                self.waiting.pop(stream_id, None)
        if decision.fired is not None:
            self._store_report(decision.fired.keys)

    def _recently_reported(self) -> dict[str, float]:
        """Predictions in reports of the last window, with their events' times: a restart keeps counting each once."""
        since = self._now() - timedelta(seconds=self.settings.alert_window_s)
        reported: dict[str, float] = {}
        for report in self.store.created_since(since):
            for event in report.events:
                at = event.occurred_at.timestamp()
                reported[event.prediction_id] = max(at, reported.get(event.prediction_id, at))
        return reported

    def _store_report(self, stream_ids: list[str]) -> AlertReport:
        events = [self.waiting[stream_id] for stream_id in stream_ids]
        models = []
        for name, version in dict.fromkeys((e.model_name, e.model_version) for e in events):
            models.append(self.links.describe(name, version))
        report = build_report(
            new_id(),
            stream_ids,
            events,
            models,
            self.settings.alert_threshold,
            self.settings.alert_window_s,
            self._now(),
        )
        self.store.save_new(report, lambda pipe: self.consumer.ack(stream_ids, pipe))
        for stream_id in stream_ids:
            self.waiting.pop(stream_id, None)
        metrics.REPORTS_CREATED.inc()
        log.info(
            "alert report stored %s",
            kv(report_id=report.report_id, events=len(events), model_version=events[-1].model_version),
        )
        return report

    def deliver_due(self) -> None:
        now = self._now()
        for report in _due(self.store, now):
            self._deliver(report)
        for drift_report in _due(self.drift.store, now):
            message = render_drift_email(drift_report, self.settings.mail_from, self.settings.mail_to)
            self._send(self.drift.store, drift_report, message, "drift report")

    def _deliver(self, report: AlertReport) -> None:
        if report.retraining is None:
            # Decided before the first send (and only once: the outcome is stored), so the email can say it.
            report = report.model_copy(update={"retraining": self.retrainer.decide(report, self._now())})
            self.store.update(report)
        message = render_email(report, self.settings.mail_from, self.settings.mail_to)
        self._send(self.store, report, message, "alert report")

    def _send(self, store: ReportStore, report: MailedReport, message: EmailMessage, kind: str) -> None:
        """One delivery attempt: the report is marked sent, or retrying after a backoff."""
        attempts = report.attempts + 1
        try:
            delivered_to = self.mailer.deliver(message, report.report_id)
        except DeliveryFailed as exc:
            metrics.SEND_FAILURES.labels(via=self.mailer.kind).inc()
            delay = backoff_s(attempts, self.settings.retry_initial_s, self.settings.retry_max_s)
            now = self._now()
            retry = {"last_error": str(exc), "next_attempt_at": now + timedelta(seconds=delay)}
            _store_attempt(store, report, attempts, now, AlertReportState.retrying, retry)
            log.warning(
                "%s not delivered, will retry %s",
                kind,
                kv(report_id=report.report_id, attempts=attempts, retry_in_s=round(delay, 1), error=str(exc)[:200]),
            )
            return
        now = self._now()
        sent = {
            "delivered_via": self.mailer.kind,
            "delivered_to": delivered_to,
            "sent_at": now,
            "next_attempt_at": None,
        }
        _store_attempt(store, report, attempts, now, AlertReportState.sent, sent)
        metrics.REPORTS_SENT.labels(via=self.mailer.kind).inc()
        log.info(
            "%s sent %s",
            kind,
            kv(report_id=report.report_id, via=self.mailer.kind, to=delivered_to, attempts=attempts),
        )

    def heartbeat(self) -> None:
        status = AlertingStatus(
            consumer=self.settings.consumer_name,
            threshold=self.settings.alert_threshold,
            window_s=self.settings.alert_window_s,
            cooldown_s=self.settings.alert_cooldown_s,
            delivery=self.mailer.kind,
            retraining=self.settings.retraining,
            seen_at=self._now(),
        )
        self.client.set(redis_keys.ALERTING_HEARTBEAT, status.model_dump_json(), ex=self.settings.heartbeat_ttl_s)
