"""Each console script the package installs answers `--help` with its usage, without starting a service."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPTS = (
    "air-paradis-gateway",
    "air-paradis-inference-worker",
    "air-paradis-training-worker",
    "air-paradis-alerting",
    "air-paradis-log-writer",
    "air-paradis-ui",
    "air-paradis",
)


def test_pyproject_declares_every_console_script() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts", {})
    assert sorted(declared) == sorted(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_zero_and_prints_usage(script: str) -> None:
    path = BIN / script
    assert path.exists(), f"{path} is not installed: run `uv pip install -p .venv/bin/python --no-deps -e .`"
    done = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]


def test_gateway_help_does_not_start_a_server() -> None:
    # A bad port would make a starting server fail; --help must answer before settings are even read.
    env = {"PATH": str(BIN), "GATEWAY_PORT": "not-a-port"}
    done = subprocess.run(
        [str(BIN / "air-paradis-gateway"), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
