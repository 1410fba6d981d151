"""BERT base model resolution: the bundled MiniLM is found without a download; a missing model says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_worker.families.bert import resolve_base_model


def test_bundled_minilm_resolves_to_the_wheel_folder() -> None:
    path = Path(resolve_base_model("bundled-minilm"))
    assert (path / "config.json").is_file()
    assert (path / "model.safetensors").is_file()


def test_a_local_folder_is_used_as_is() -> None:
    folder = resolve_base_model("bundled-minilm")
    assert resolve_base_model(folder) == folder


def test_an_unreachable_model_is_refused_with_a_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: nothing to find offline
    with pytest.raises(ValueError, match="neither a local model folder nor in the Hugging Face cache"):
        resolve_base_model("distilbert-base-uncased")
