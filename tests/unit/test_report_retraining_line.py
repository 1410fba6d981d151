"""The report email says whether the retraining policy queued a job, links to it, or says why it did not."""

from __future__ import annotations

from datetime import UTC, datetime

from alerting.report import build_report, render_email
from shared.schemas.retraining import RetrainingOutcome
from tests.factories import make_misprediction

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _report(outcome: RetrainingOutcome | None):
    events = [make_misprediction(f"tweet {n}", prediction_id=f"p{n}", occurred_at=T0) for n in range(3)]
    report = build_report("r1", ["1-0", "2-0", "3-0"], events, [], 3, 300, T0)
    return report.model_copy(update={"retraining": outcome})


def _bodies(outcome: RetrainingOutcome | None) -> tuple[str, str]:
    message = render_email(_report(outcome), "from@example.test", ["to@example.test"])
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_a_queued_job_is_named_and_linked() -> None:
    url = "http://gateway.test/admin/training-jobs/job42"
    outcome = RetrainingOutcome(
        queued=True, reason="7 new correction(s)", job_id="job42", job_url=url, family="lstm", decided_at=T0
    )
    text, html = _bodies(outcome)
    assert f"Retraining: queued lstm job job42, analysts' corrections included (7 new correction(s)): {url}" in text
    assert f'<a href="{url}">job42</a>' in html


def test_no_job_says_why() -> None:
    outcome = RetrainingOutcome(
        queued=False, reason="the retraining policy is off (RETRAINING_POLICY=off)", decided_at=T0
    )
    text, html = _bodies(outcome)
    assert "Retraining: no job queued: the retraining policy is off (RETRAINING_POLICY=off)." in text
    assert "no job queued" in html and "<a href" not in html.split("Retraining")[1]
