"""Prometheus metrics of one log writer process: rows written, batches and their write time, failed writes, the
stream's backlog, and the rows retention exported and deleted.

The entry point serves the default registry on `METRICS_PORT` when that is above 0 (`shared.metrics_server`). The
backlog gauges describe the whole stream (every writer of the group sees the same one), so a dashboard takes their
max, not their sum.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROW_KINDS = ("prediction", "feedback")
RETENTION_ACTIONS = ("exported", "deleted")

ROWS_WRITTEN = Counter(
    "log_writer_rows_written_total",
    "Rows the log writer committed: new predictions, and feedback verdicts applied to logged predictions.",
    ["kind"],
)
BATCHES = Counter("log_writer_batches_total", "Batches committed (one transaction each, then acknowledged).")
BATCH_WRITE_SECONDS = Histogram(
    "log_writer_batch_write_seconds",
    "Wall time of one batch's database transaction.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WRITE_FAILURES = Counter(
    "log_writer_write_failures_total", "Batch writes the database refused or missed (the batch is written again)."
)
ENTRIES_WAITING = Gauge(
    "log_writer_stream_entries_waiting", "Stream entries not committed to the log yet (committed ones are deleted)."
)
OLDEST_ENTRY_AGE = Gauge(
    "log_writer_oldest_entry_age_seconds", "Age of the oldest stream entry not committed yet (0 when none waits)."
)
RETENTION_ROWS = Counter(
    "log_writer_retention_rows_total", "Rows past retention: appended to the export CSV, and deleted.", ["action"]
)

for _kind in ROW_KINDS:
    # Every series exists from the start at 0, so that a rate or an alert rule sees the first increase.
    ROWS_WRITTEN.labels(kind=_kind)
for _action in RETENTION_ACTIONS:
    RETENTION_ROWS.labels(action=_action)
