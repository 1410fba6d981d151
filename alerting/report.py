"""The report: an AlertReport record for a burst of mispredictions, and the email (text + HTML) it becomes."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from shared.schemas.alerts import AlertReport, MailedReport, ReportedModel
from shared.schemas.events import MispredictionEvent

MESSAGE_ID_DOMAIN = "alerting.air-paradis"
_PAGE_START = '<!doctype html><html><body style="font-family: sans-serif">'


def human_duration(seconds: float) -> str:
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes and secs:
        return f"{minutes} min {secs} s"
    return f"{minutes} min" if minutes else f"{secs} s"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _versions(models: Sequence[ReportedModel]) -> str:
    by_name: dict[str, list[str]] = {}
    for model in models:
        by_name.setdefault(model.name, []).append(model.version)
    return "; ".join(f"{name} v{', v'.join(versions)}" for name, versions in by_name.items())


def subject_for(count: int, window_s: float, models: Sequence[ReportedModel]) -> str:
    return f"[Air Paradis] {count} mispredictions within {human_duration(window_s)} — {_versions(models)}"


def build_report(
    report_id: str,
    stream_ids: Sequence[str],
    events: Sequence[MispredictionEvent],
    models: Sequence[ReportedModel],
    threshold: int,
    window_s: float,
    now: datetime,
) -> AlertReport:
    ordered = sorted(events, key=lambda e: e.occurred_at)
    return AlertReport(
        report_id=report_id,
        subject=subject_for(len(ordered), window_s, models),
        stream_ids=list(stream_ids),
        events=ordered,
        models=list(models),
        threshold=threshold,
        window_s=window_s,
        window_start=ordered[0].occurred_at,
        window_end=ordered[-1].occurred_at,
        created_at=now,
        updated_at=now,
    )


def flagged_by(report: AlertReport) -> str:
    """Who flagged the report's predictions, most flags first: "alice (2), bob (1)"."""
    counts: dict[str, int] = {}
    for event in report.events:
        counts[event.analyst] = counts.get(event.analyst, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} ({count})" for name, count in ranked)


def _model_lines(report: AlertReport) -> list[str]:
    lines = []
    for model in report.models:
        link = f" — MLflow run: {model.run_url}" if model.run_url else " — MLflow run: (registry did not answer)"
        lines.append(f"Model: {model.name} version {model.version}{link}")
    return lines


def retraining_line(report: AlertReport) -> str:
    """Whether the report queued a training job, with the job's link, or why it did not."""
    outcome = report.retraining
    if outcome is None:
        return "Retraining: not decided."
    if outcome.queued:
        return (
            f"Retraining: queued {outcome.family} job {outcome.job_id}, analysts' corrections included "
            f"({outcome.reason}): {outcome.job_url}"
        )
    return f"Retraining: no job queued: {outcome.reason}."


def render_text(report: AlertReport) -> str:
    span = (report.window_end - report.window_start).total_seconds()
    lines = [
        f"{len(report.events)} predictions were flagged as wrong by analysts within {human_duration(span)} "
        f"(alert rule: {report.threshold} within {human_duration(report.window_s)}).",
        f"From {_when(report.window_start)} to {_when(report.window_end)}.",
        f"Flagged by: {flagged_by(report)}.",
        "",
        *_model_lines(report),
        retraining_line(report),
        "",
    ]
    for number, event in enumerate(report.events, start=1):
        lines += [
            f"{number}. {event.text}",
            f"   predicted: {event.predicted_label} (probability positive {event.probability_positive:.2f})"
            f" -> corrected: {event.correct_label}",
            f"   model {event.model_name} v{event.model_version};"
            f" flagged by {event.analyst} at {_when(event.occurred_at)}",
            f"   prediction {event.prediction_id}",
            "",
        ]
    lines.append(f"Report {report.report_id}")
    return "\n".join(lines) + "\n"


def render_html(report: AlertReport) -> str:
    esc = html.escape
    span = (report.window_end - report.window_start).total_seconds()
    models = "".join(
        f"<li>{esc(m.name)} version {esc(m.version)} — "
        + (f'<a href="{esc(m.run_url)}">MLflow run {esc(m.run_id or "")}</a>' if m.run_url else "MLflow run unknown")
        + "</li>"
        for m in report.models
    )
    outcome = report.retraining
    if outcome is not None and outcome.queued and outcome.job_url:
        retraining = (
            f'Retraining: queued {esc(outcome.family or "")} job <a href="{esc(outcome.job_url)}">'
            f"{esc(outcome.job_id or '')}</a>, analysts' corrections included ({esc(outcome.reason)})."
        )
    else:
        retraining = esc(retraining_line(report))
    rows = "".join(
        "<tr>"
        f"<td>{number}</td><td>{esc(e.text)}</td>"
        f"<td>{esc(e.predicted_label)} ({e.probability_positive:.2f})</td>"
        f"<td><b>{esc(e.correct_label)}</b></td>"
        f"<td>{esc(e.model_name)} v{esc(e.model_version)}</td>"
        f"<td>{esc(e.analyst)}</td><td>{esc(_when(e.occurred_at))}</td>"
        "</tr>"
        for number, e in enumerate(report.events, start=1)
    )
    return (
        f"<h2>{len(report.events)} mispredictions within {esc(human_duration(span))}</h2>"
        f"<p>Alert rule: {report.threshold} within {esc(human_duration(report.window_s))}. "
        f"From {esc(_when(report.window_start))} to {esc(_when(report.window_end))}.</p>"
        f"<p>Flagged by: {esc(flagged_by(report))}.</p>"
        f"<ul>{models}</ul>"
        f"<p>{retraining}</p>"
        '<table border="1" cellpadding="4" cellspacing="0">'
        "<tr><th>#</th><th>Tweet</th><th>Predicted (prob. positive)</th><th>Corrected</th><th>Model</th>"
        "<th>Analyst</th><th>Flagged at</th></tr>"
        f"{rows}</table>"
    )


def html_page(report: MailedReport, body: str) -> str:
    """An email's HTML part: `body`, then the report's id in grey."""
    return f'{_PAGE_START}{body}<p style="color: gray">Report {html.escape(report.report_id)}</p></body></html>'


def compose_email(
    report: MailedReport,
    mail_from: str,
    mail_to: Sequence[str],
    text: str,
    html_body: str,
    kind: str | None = None,
) -> EmailMessage:
    """The report as a text + HTML message. The same report always renders to the same message id (the kind, if any,
    before the report id), so a resend after a crash can be recognised."""
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = mail_from
    message["To"] = ", ".join(mail_to)
    message["Date"] = format_datetime(report.created_at.astimezone(UTC))
    message["Message-ID"] = f"<{kind + '-' if kind else ''}{report.report_id}@{MESSAGE_ID_DOMAIN}>"
    message["X-Air-Paradis-Report-Id"] = report.report_id
    if kind:
        message["X-Air-Paradis-Report-Kind"] = kind
    message.set_content(text)
    message.add_alternative(html_page(report, html_body), subtype="html")
    return message


def render_email(report: AlertReport, mail_from: str, mail_to: Sequence[str]) -> EmailMessage:
    return compose_email(report, mail_from, mail_to, render_text(report), render_html(report))
