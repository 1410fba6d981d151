"""Prometheus metrics of the alerting process: misprediction events read, reports created, sent and failed sends.

One process (one consumer of the alerting group), so the default registry is enough: the entry point serves it on
`METRICS_PORT` when that is above 0 (`shared.metrics_server.serve_metrics`).
"""

from __future__ import annotations

from prometheus_client import Counter

# How a report goes out: over SMTP, or written as an .eml file to the outbox folder (SMTP_HOST unset).
DELIVERY_KINDS = ("smtp", "outbox")

EVENTS_READ = Counter(
    "alerting_events_read_total", "Misprediction events read (those still pending are read again after an outage)."
)
REPORTS_CREATED = Counter("alerting_reports_created_total", "Reports stored, one per burst of mispredictions.")
REPORTS_SENT = Counter(
    "alerting_reports_sent_total", "Reports delivered: accepted by the SMTP server, or written to the outbox.", ["via"]
)
SEND_FAILURES = Counter(
    "alerting_send_failures_total", "Delivery attempts that failed (the report stays stored and is retried).", ["via"]
)

for _kind in DELIVERY_KINDS:
    # Both series exist from the start at 0, so that the first failure is an increase an alert rule can see.
    REPORTS_SENT.labels(via=_kind)
    SEND_FAILURES.labels(via=_kind)
