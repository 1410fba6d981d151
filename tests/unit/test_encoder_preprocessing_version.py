"""An encoder records the preprocessing version it was fitted on, and a model refuses to load under another one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentiment_model.encoder import IncompatiblePreprocessing, SequenceEncoder
from sentiment_model.lstm import scorer_from_files
from sentiment_model.preprocessing import PREPROCESSING_VERSION


def _encoder_json(preprocessing: str) -> str:
    data = json.loads(SequenceEncoder.fit([["good", "flight"], ["bad", "delay"]]).to_json())
    data["preprocessing"] = preprocessing
    return json.dumps(data)


def test_an_encoder_records_the_installed_preprocessing_version_and_reloads_under_it() -> None:
    encoder = SequenceEncoder.fit([["good", "flight"]])
    assert json.loads(encoder.to_json())["preprocessing"] == PREPROCESSING_VERSION
    assert SequenceEncoder.from_json(encoder.to_json()).vocabulary == encoder.vocabulary
    # The older recorded form, module path and version, names the same version.
    assert SequenceEncoder.from_json(_encoder_json(f"shared.preprocessing.preprocess/{PREPROCESSING_VERSION}"))


@pytest.mark.parametrize("recorded", ["v0", "v2", "shared.preprocessing.preprocess/v0", ""])
def test_an_encoder_of_another_preprocessing_version_is_refused(recorded: str) -> None:
    with pytest.raises(IncompatiblePreprocessing, match=f"this install runs {PREPROCESSING_VERSION}"):
        SequenceEncoder.from_json(_encoder_json(recorded))


def test_a_served_lstm_whose_encoder_has_another_version_refuses_to_load(tmp_path: Path) -> None:
    encoder_file = tmp_path / "encoder.json"
    encoder_file.write_text(_encoder_json("v0"), encoding="utf-8")
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"never read: the encoder is refused first")
    with pytest.raises(IncompatiblePreprocessing, match="fitted on preprocessing v0"):
        scorer_from_files(onnx_file, encoder_file, {"threshold": 0.5})
