"""The LSTM's ONNX export: one fused operator with Keras' numbers, and a loud refusal for an architecture it does
not know (a wrong graph would otherwise serve wrong scores). The registered model's parity is in
tests/integration/test_parity_fast_path.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.training_params import LstmParams
from training_worker.families.lstm import build_model
from training_worker.onnx_export import export_onnx

pytestmark = pytest.mark.slow

VOCAB, DIM = 50, 8


def _model(bidirectional: bool = False, **lstm_overrides: object) -> Any:
    import keras

    params = LstmParams(max_len=12, lstm_units=6, bidirectional=bidirectional)
    model = build_model(VOCAB, np.random.default_rng(0).normal(size=(VOCAB, DIM)), params)
    if not lstm_overrides:
        return model
    config = model.get_config()
    for layer in config["layers"]:
        if layer["name"] == "lstm":
            layer["config"].update(lstm_overrides)
    return keras.Model.from_config(config)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_export_is_one_fused_lstm_with_the_keras_numbers(tmp_path: Path, bidirectional: bool) -> None:
    import onnx
    import onnxruntime as ort

    model = _model(bidirectional)
    path = tmp_path / "model.onnx"
    export_onnx(model, path)

    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("LSTM") == 1
    rng = np.random.default_rng(1)
    ids = np.zeros((5, 12), dtype=np.int32)
    for row, length in enumerate([0, 1, 5, 11, 12]):  # padding only at the end, as the encoder writes it
        ids[row, :length] = rng.integers(1, VOCAB, size=length)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"token_ids": ids})[0].reshape(-1)
    expected = np.asarray(model.predict_on_batch(ids)).reshape(-1)
    assert float(np.max(np.abs(got - expected))) <= 1e-5


def test_export_refuses_an_lstm_it_cannot_reproduce(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lstm reads forwards"):
        export_onnx(_model(go_backwards=True), tmp_path / "model.onnx")
