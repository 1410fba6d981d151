"""Feedback & alerts page: flagged mispredictions on a timeline against the alert rule, and the reports sent."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import charts
from ui.components import ANALYST_KEY, fetched, page_context, require_key

TIME_COLUMNS = {
    name: st.column_config.DatetimeColumn(name, format="YYYY-MM-DD HH:mm:ss", timezone="UTC")
    for name in ("flagged at", "created", "sent")
}

context = page_context()
st.title("Feedback & alerts")

if require_key(ANALYST_KEY):
    st.button("Refresh", key="alerts_refresh")
    client = context.analyst_client()
    assert client is not None  # require_key saw a key
    overview = fetched(client.alerts, "load the alerts")
    if overview is None:
        st.stop()

    rule = overview.alerting
    threshold = rule.threshold if rule else context.settings.alert_threshold
    window_s = rule.window_s if rule else context.settings.alert_window_s
    sent = sum(1 for r in overview.reports if r.state == "sent")

    events_col, reports_col, unsent_col, rule_col = st.columns(4)
    events_col.metric("Mispredictions (recent)", len(overview.events))
    reports_col.metric("Reports sent", sent)
    unsent_col.metric("Reports waiting", overview.unsent_reports)
    rule_col.metric("Alert rule", f"{threshold} in {window_s / 60:g} min")
    if rule is None:
        st.info(
            "The alerting service is not running (no heartbeat): flags are kept and will be reported when it starts. "
            f"The rule drawn is the UI's default, {threshold} in {window_s / 60:g} minutes.",
            icon=":material/info:",
        )
    else:
        st.caption(
            f"Alerting delivers by {rule.delivery}; cooldown {rule.cooldown_s:g} s; seen {rule.seen_at:%H:%M:%S}."
        )

    if not overview.events:
        st.info("No misprediction flagged yet: flag one on the Predict page.")
    else:
        events = pd.DataFrame(
            [
                {
                    "flagged at": entry.event.occurred_at,
                    "text": entry.event.text,
                    "predicted": entry.event.predicted_label,
                    "probability positive": entry.event.probability_positive,
                    "correct": entry.event.correct_label,
                    "model": f"{entry.event.model_name} v{entry.event.model_version}",
                    "analyst": entry.event.analyst,
                    "prediction id": entry.event.prediction_id,
                }
                for entry in overview.events
            ]
        )
        st.subheader("Mispredictions over time")
        st.altair_chart(charts.misprediction_timeline(events["flagged at"], threshold, window_s), width="stretch")
        st.subheader("Flagged mispredictions")
        st.dataframe(events, hide_index=True, column_config=TIME_COLUMNS, key="alerts_events")

    st.subheader("Alert reports")
    if not overview.reports:
        st.caption("No report yet: one is sent when the rule above is met.")
    else:
        reports = pd.DataFrame(
            [
                {
                    "state": report.state.value,
                    "subject": report.subject,
                    "tweets": len(report.events),
                    "created": report.created_at,
                    "sent": report.sent_at,
                    "via": report.delivered_via,
                    "attempts": report.attempts,
                    "last error": report.last_error,
                }
                for report in overview.reports
            ]
        )
        st.dataframe(reports, hide_index=True, column_config=TIME_COLUMNS, key="alerts_reports")
