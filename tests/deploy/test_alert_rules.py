"""The alert rules parse, and each one fires on the series that should raise it (`promtool test rules`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.monitoring_files import PROMETHEUS_CONFIG, ROOT, debian_binary, rule_files

RULE_TESTS = Path(__file__).parent / "promtool/air-paradis.test.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([debian_binary("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_every_rule_file_is_valid() -> None:
    files = rule_files()
    assert files, "compose/monitoring/prometheus/rules/ holds no rule file"
    checked = _promtool("check", "rules", *map(str, files))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_config_is_valid() -> None:
    checked = _promtool("check", "config", "--syntax-only", str(PROMETHEUS_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_on_its_signal_and_stays_silent_otherwise() -> None:
    tested = _promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:

    alerts = {
        rule["alert"]
        for path in rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    covered = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert alerts - covered == set(), f"alerts without a firing case in {RULE_TESTS.name}: {sorted(alerts - covered)}"
