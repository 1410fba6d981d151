"""Drift watch: reads the served versions' rolling statistics and stores one drift report when a version's PSI
passes DRIFT_PSI_THRESHOLD, at most one per version per DRIFT_REPORT_COOLDOWN_S; the service then sends it like any
report (stored before sent, sent once)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from alerting.drift_report import build_drift_report
from alerting.settings import AlertingSettings
from alerting.store import drift_reports
from shared import redis_keys
from shared.drift import served_drift
from shared.logging_setup import kv
from shared.schemas.drift import DriftReport

log = logging.getLogger(__name__)


class DriftWatch:
    def __init__(self, settings: AlertingSettings, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        self.store = drift_reports(client)
        self._next_check = 0.0

    def check(self) -> list[DriftReport]:
        """Every DRIFT_CHECK_INTERVAL_S: the reports stored this time (none while the versions hold or cool down)."""
        now = self.clock()
        if now < self._next_check:
            return []
        self._next_check = now + self.settings.drift_check_interval_s
        stored = []
        for stats in served_drift(self.client):
            if stats.psi is None or stats.predictions < self.settings.drift_min_predictions:
                continue
            if stats.psi < self.settings.drift_psi_threshold:
                continue
            report = build_drift_report(stats, self.settings.drift_psi_threshold, datetime.fromtimestamp(now, UTC))
            cooldown = redis_keys.drift_report_cooldown(stats.model_name, stats.model_version)
            if not self.store.save_new_unless_cooling(report, cooldown, self.settings.drift_report_cooldown_s):
                continue
            stored.append(report)
            log.info(
                "drift report stored %s",
                kv(
                    report_id=report.report_id,
                    model=stats.model_name,
                    model_version=stats.model_version,
                    psi=round(stats.psi, 3),
                    predictions=stats.predictions,
                ),
            )
        return stored
