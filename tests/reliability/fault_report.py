"""pytest plugin (`-p tests.reliability.fault_report`): rows of the fault table for the alerting/SMTP fault tests.

Those tests belong to the alerting issue and live in tests/integration; they assert their own counts (exactly one
report, nothing lost). Loaded by scripts/reliability.sh so that one run yields the whole table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

# Test-name fragments of the alerting fault scenarios, and how the table names them.
ALERTING_FAULTS = {
    "smtp_down_then_up": "alerting: SMTP server down, then back",
    "sigkill_with_a_report_stored_but_unsent": "alerting: SIGKILL after storing a report, before sending",
    "sigkill_with_events_read_but_unreported": "alerting: SIGKILL after reading events, before reporting",
    "redis_restart_loses_no_event": "alerting: Redis restarted under the consumer",
}


def _table_path() -> Path:
    return Path(os.environ.get("TEST_OUTPUT_DIR", "test-output")).resolve() / "reliability-faults.jsonl"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    fault = next((label for fragment, label in ALERTING_FAULTS.items() if fragment in report.nodeid), None)
    if fault is None:
        return
    passed = report.passed
    row = {
        "fault": fault,
        "sent": 1,
        "answered": 1 if passed else 0,
        "explicit_failure": 0,
        "lost": 0 if passed else 1,
        "note": f"{report.nodeid.split('::')[-1]}: {'passed' if passed else 'FAILED'} (scenario asserts no loss)",
        "at": time.time(),
    }
    path = _table_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
