"""The report email (subject, text and HTML parts), the outbox, the retry schedule and the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pydantic import ValidationError

from alerting.mailer import OutboxMailer, backoff_s
from alerting.report import build_report, human_duration, render_email
from alerting.settings import AlertingSettings
from shared.schemas.alerts import ReportedModel
from shared.schemas.events import MispredictionEvent
from tests.factories import make_misprediction

T0 = datetime(2026, 11, 25, 21, 0, 0, tzinfo=UTC)
TWEETS = ["@united lost my bag <again>", "@delta great crew & snacks", "@jetblue delayed 3 hours"]


def _events() -> list[MispredictionEvent]:
    return [
        make_misprediction(
            text,
            prediction_id=f"p{n}",
            feedback_id=f"f{n}",
            predicted_label="positive" if n != 1 else "negative",
            probability_positive=0.91 if n != 1 else 0.12,
            correct_label="negative" if n != 1 else "positive",
            model_version="3",
            occurred_at=T0 + timedelta(seconds=40 * n),
        )
        for n, text in enumerate(TWEETS)
    ]


def _report():
    model = ReportedModel(name="air-paradis-lstm", version="3", run_id="abc123", run_url="http://mlflow/#/runs/abc123")
    return build_report("r1", ["1-0", "2-0", "3-0"], _events(), [model], 3, 300, T0 + timedelta(minutes=2))


def test_subject_names_count_window_and_model_version() -> None:
    assert _report().subject == "[Air Paradis] 3 mispredictions within 5 min — air-paradis-lstm v3"


def test_email_has_text_and_html_parts_with_every_tweet() -> None:
    message = render_email(_report(), "alerts@example.test", ["ops@example.test", "ml@example.test"])
    parsed = message_from_bytes(bytes(message), policy=policy.default)
    assert parsed["To"] == "ops@example.test, ml@example.test"
    assert parsed["Message-ID"] == "<r1@alerting.air-paradis>"
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    for tweet in TWEETS:
        assert tweet in text
    assert "&lt;again&gt;" in html and "great crew &amp; snacks" in html  # tweets are escaped in HTML
    assert "predicted: positive (probability positive 0.91) -> corrected: negative" in text
    assert "flagged by analyst at 2026-11-25 21:00:00 UTC" in text
    assert "http://mlflow/#/runs/abc123" in text and 'href="http://mlflow/#/runs/abc123"' in html
    assert "within 1 min 20 s" in text  # the span the three flags covered


def test_outbox_writes_one_file_per_report_even_when_written_twice(tmp_path: Path) -> None:
    outbox = OutboxMailer(tmp_path / "outbox")
    message = render_email(_report(), "a@example.test", ["b@example.test"])
    first = outbox.deliver(message, "r1")
    second = outbox.deliver(message, "r1")
    assert first == second
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["r1.eml"]
    assert TWEETS[2] in Path(first).read_text()


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    assert [backoff_s(n, 2, 30) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


def test_human_duration() -> None:
    assert [human_duration(s) for s in (45, 60, 90, 300, 301)] == ["45 s", "1 min", "1 min 30 s", "5 min", "5 min 1 s"]


def test_settings_read_recipients_as_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_TO", "a@example.test, b@example.test")
    settings = AlertingSettings()
    assert settings.mail_to == ["a@example.test", "b@example.test"]
    assert settings.delivery == "outbox" and settings.outbox_dir == Path(".local/outbox")
    assert (settings.alert_threshold, settings.alert_window_s) == (3, 300)


def test_production_refuses_an_smtp_login_without_a_real_password() -> None:
    with pytest.raises(ValidationError, match="SMTP_PASSWORD"):
        AlertingSettings(environment="production", smtp_host="smtp.example.test", smtp_user="bot")
    AlertingSettings(environment="production", smtp_host="smtp.example.test", smtp_user="bot", smtp_password="s3cret!")


def test_the_report_names_who_flagged() -> None:
    events = [
        e.model_copy(update={"analyst": name}) for e, name in zip(_events(), ["bob", "alice", "bob"], strict=True)
    ]
    report = build_report("r2", ["1-0", "2-0", "3-0"], events, [], 3, 300, T0 + timedelta(minutes=2))
    parsed = message_from_bytes(
        bytes(render_email(report, "a@example.test", ["o@example.test"])), policy=policy.default
    )
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "Flagged by: bob (2), alice (1)." in text and "Flagged by: bob (2), alice (1)." in html
    assert "flagged by alice at" in text and "<td>alice</td>" in html
