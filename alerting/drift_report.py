"""The drift report: a DriftReport for a served version whose PSI passed the threshold, and the email it becomes."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage

from alerting.report import compose_email, human_duration
from shared.schemas.base import new_id
from shared.schemas.drift import DriftReport, DriftStats


def build_drift_report(stats: DriftStats, psi_threshold: float, now: datetime) -> DriftReport:
    return DriftReport(
        report_id=new_id(),
        subject=(
            f"[Air Paradis] Drift on {stats.model_name} v{stats.model_version}: PSI {stats.psi:.2f} "
            f"(threshold {psi_threshold:g})"
        ),
        stats=stats,
        psi_threshold=psi_threshold,
        created_at=now,
        updated_at=now,
    )


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def comparison_rows(stats: DriftStats) -> list[tuple[str, str, str]]:
    """(statistic, live, test split) for each statistic the report compares."""
    reference = stats.reference
    return [
        ("Out-of-vocabulary tokens", _share(stats.oov_share), _share(reference.oov_share if reference else None)),
        ("Labelled positive", _share(stats.positive_share), _share(reference.positive_share if reference else None)),
        (
            "Mean tweet length (chars)",
            _number(stats.mean_text_chars),
            _number(reference.mean_text_chars if reference else None),
        ),
    ]


def _bins(stats: DriftStats) -> list[tuple[str, str, str]]:
    count = len(stats.probability_histogram)
    reference: list[float | None] = [None] * count
    if stats.reference and len(stats.reference.probability_histogram) == count:
        reference = list(stats.reference.probability_histogram)
    return [
        (f"{index / count:.1f}-{(index + 1) / count:.1f}", _share(live), _share(expected))
        for index, (live, expected) in enumerate(zip(stats.probability_histogram, reference, strict=True))
    ]


def render_drift_text(report: DriftReport) -> str:
    stats = report.stats
    lines = [
        f"The answers of {stats.model_name} version {stats.model_version} drifted from its test split: population "
        f"stability index of probability_positive {stats.psi:.3f}, above the threshold {report.psi_threshold:g} "
        "(DRIFT_PSI_THRESHOLD).",
        f"Over {stats.predictions} tweets answered within the last {human_duration(stats.window_s)} "
        f"by {stats.workers} inference worker(s); the test split had {stats.reference.rows if stats.reference else 0}.",
        "",
        "Statistic: live / test split",
        *(f"  {name}: {live} / {expected}" for name, live, expected in comparison_rows(stats)),
        "",
        "probability_positive: live / test split",
        *(f"  {span}: {live} / {expected}" for span, live, expected in _bins(stats)),
        "",
        f"Report {report.report_id}",
    ]
    return "\n".join(lines) + "\n"


def render_drift_html(report: DriftReport) -> str:
    esc = html.escape
    stats = report.stats

    def table(header: str, rows: list[tuple[str, str, str]]) -> str:
        body = "".join(f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td>{esc(c)}</td></tr>" for a, b, c in rows)
        return (
            '<table border="1" cellpadding="4" cellspacing="0">'
            f"<tr><th>{esc(header)}</th><th>Live</th><th>Test split</th></tr>{body}</table>"
        )

    return (
        f"<h2>Drift on {esc(stats.model_name)} v{esc(stats.model_version)}: PSI {stats.psi:.3f}</h2>"
        f"<p>Threshold {report.psi_threshold:g}. {stats.predictions} tweets within the last "
        f"{esc(human_duration(stats.window_s))}, {stats.workers} inference worker(s).</p>"
        f"{table('Statistic', comparison_rows(stats))}<br>{table('probability_positive', _bins(stats))}"
    )


def render_drift_email(report: DriftReport, mail_from: str, mail_to: Sequence[str]) -> EmailMessage:
    return compose_email(report, mail_from, mail_to, render_drift_text(report), render_drift_html(report), "drift")
