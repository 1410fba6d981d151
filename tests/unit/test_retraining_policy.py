"""The retraining policy's rule: off, paused, too few new corrections, rate-limited, or a job may be queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.settings import AlertingSettings
from shared.retraining_policy import refusal
from shared.schemas.retraining import AutomaticJob, PolicyPause, RetrainingPolicy

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = RetrainingPolicy(enabled=True, min_interval_h=24, min_new_corrections=5, family="lstm", params={})
LAST = AutomaticJob(job_id="job1", report_id="r1", family="lstm", queued_at=NOW - timedelta(hours=23))


def test_off_queues_nothing() -> None:
    off = POLICY.model_copy(update={"enabled": False})
    assert refusal(off, PolicyPause(), 50, None, NOW) == "the retraining policy is off (RETRAINING_POLICY=off)"


def test_paused_says_by_whom() -> None:
    pause = PolicyPause(paused=True, by="alice", at=NOW)
    assert "paused (by alice at 2026-12-01 12:00 UTC)" in refusal(POLICY, pause, 50, None, NOW)


def test_too_few_new_corrections() -> None:
    assert refusal(POLICY, PolicyPause(), 4, None, NOW) == (
        "4 new correction(s) since the last automatic job, 5 needed (RETRAINING_MIN_NEW_CORRECTIONS)"
    )
    assert refusal(POLICY, PolicyPause(), 5, None, NOW) is None


def test_at_most_one_job_per_interval() -> None:
    reason = refusal(POLICY, PolicyPause(), 50, LAST, NOW)
    assert reason is not None and "at most one per 24 h" in reason and "the next from 2026-12-01 13:00 UTC" in reason
    assert refusal(POLICY, PolicyPause(), 50, LAST, NOW + timedelta(hours=1)) is None


def test_the_params_are_checked_at_start_and_feedback_always_included(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAINING_PARAMS", '{"epochs": 2}')
    assert AlertingSettings().retraining.params == {"epochs": 2, "include_feedback": True}
    monkeypatch.setenv("RETRAINING_PARAMS", '{"epochs": 0}')
    with pytest.raises(ValueError, match="RETRAINING_PARAMS is not valid for the lstm family"):
        AlertingSettings()
