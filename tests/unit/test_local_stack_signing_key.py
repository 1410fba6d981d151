"""The local stack's MODEL_SIGNING_KEY: random on first run, kept private in the data folder, the same afterwards."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from local_stack.__main__ import model_signing_key


def test_first_run_writes_a_random_private_key_and_later_runs_reuse_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_SIGNING_KEY", raising=False)
    first = model_signing_key(tmp_path)
    path = tmp_path / "model-signing.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 64 and first == path.read_text().strip()
    assert model_signing_key(tmp_path) == first
    other = tmp_path / "another-stack"
    other.mkdir()
    assert model_signing_key(other) != first


def test_an_environment_key_wins_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_SIGNING_KEY", "operator-chosen-key")
    assert model_signing_key(tmp_path) == "operator-chosen-key"
    assert not (tmp_path / "model-signing.key").exists()
