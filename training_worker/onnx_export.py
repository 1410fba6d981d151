"""Exports the trained Keras LSTM to ONNX as one fused `LSTM` operator, for ONNX Runtime at serving.

Why not Keras' own `model.export(format="onnx")`: the embedding's mask turns the LSTM into a while loop in that
graph, which ONNX Runtime runs one time step at a time. A masked step keeps the state it was given, and the encoder
pads at the end only (sentiment_model/encoder.py), so masking is the same as stopping each row at its length: the
fused operator given `sequence_lens` computes the same numbers in a fraction of the time (docs/serving.md). The
parity test holds the export to the Keras model within 1e-5, empty tweets included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sentiment_model.encoder import PAD_ID

OPSET = 15
INPUT = "token_ids"  # the Keras model's input name; serving reads whatever the graph declares


def _keras_gates_to_onnx(matrix: np.ndarray) -> np.ndarray:
    """Keras stacks the gates as input, forget, cell, output; ONNX as input, output, forget, cell."""
    i, f, c, o = np.split(matrix, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def _recurrent_layers(lstm: Any) -> list[Any]:
    """The LSTM layer itself, or a Bidirectional wrapper's forward and backward layers (in Keras' concat order)."""
    if hasattr(lstm, "forward_layer"):
        if lstm.merge_mode != "concat":
            raise ValueError(f"cannot export a Bidirectional LSTM merged by {lstm.merge_mode!r}: only 'concat'")
        return [lstm.forward_layer, lstm.backward_layer]
    return [lstm]


def _check_architecture(embedding: Any, lstm: Any, dense: Any) -> None:
    """The graph below is this architecture only (training_worker/families/lstm.py builds it): fail at training,
    not with wrong numbers at serving, if the model ever changes."""
    layers = _recurrent_layers(lstm)
    for layer, backwards in zip(layers, [False, True][: len(layers)], strict=True):
        _check_recurrent(embedding, layer, dense, backwards)


def _check_recurrent(embedding: Any, lstm: Any, dense: Any, backwards: bool) -> None:
    lstm_config, dense_config = lstm.get_config(), dense.get_config()
    expected = {
        "embedding masks padding": embedding.get_config().get("mask_zero") is True,
        "lstm activation tanh": lstm_config.get("activation") == "tanh",
        "lstm recurrent activation sigmoid": lstm_config.get("recurrent_activation") == "sigmoid",
        "lstm uses a bias": lstm_config.get("use_bias") is True,
        "lstm returns its last state only": not lstm_config.get("return_sequences"),
        "lstm reads forwards": bool(lstm_config.get("go_backwards")) == backwards,
        "dense has one sigmoid output": dense_config.get("activation") == "sigmoid" and dense_config["units"] == 1,
    }
    broken = [name for name, holds in expected.items() if not holds]
    if broken:
        raise ValueError(f"cannot export this LSTM as a fused ONNX graph: not true that {', '.join(broken)}")


def fused_lstm_graph(model: Any) -> Any:
    """The ONNX model of embedding -> (Bi)LSTM (last state) -> dense sigmoid, from the Keras model's weights."""
    from onnx import TensorProto, helper, numpy_helper

    embedding, lstm, dense = (model.get_layer(n) for n in ("embedding", "lstm", "probability_positive"))
    _check_architecture(embedding, lstm, dense)
    (table,) = embedding.get_weights()
    directions = _recurrent_layers(lstm)
    gates = [layer.get_weights() for layer in directions]  # each: kernel, recurrent kernel, bias
    dense_kernel, dense_bias = dense.get_weights()
    units = gates[0][1].shape[0]
    max_len = model.input_shape[1]
    weights = {
        "embedding": table,
        "W": np.stack([_keras_gates_to_onnx(k).T for k, _, _ in gates]),  # [directions, 4 * units, input]
        "R": np.stack([_keras_gates_to_onnx(r).T for _, r, _ in gates]),  # [directions, 4 * units, units]
        # ONNX adds an input and a recurrent bias; Keras has one.
        "B": np.stack([np.concatenate([_keras_gates_to_onnx(b), np.zeros(4 * units)]) for _, _, b in gates]),
        "dense_kernel": dense_kernel,
        "dense_bias": dense_bias,
    }
    initializers = [numpy_helper.from_array(np.asarray(w, dtype=np.float32), name) for name, w in weights.items()]
    initializers += [
        numpy_helper.from_array(np.array(PAD_ID, dtype=np.int32), "pad_id"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_1"),
    ]
    node = helper.make_node
    nodes = [
        node("Gather", ["embedding", INPUT], ["embedded"]),
        node("Transpose", ["embedded"], ["time_major"], perm=[1, 0, 2]),
        # Each row's length: its ids that are not padding (padding is only ever at the end).
        node("Equal", [INPUT, "pad_id"], ["is_padding"]),
        node("Not", ["is_padding"], ["is_token"]),
        node("Cast", ["is_token"], ["token_flags"], to=TensorProto.INT32),
        node("ReduceSum", ["token_flags", "axis_1"], ["lengths"], keepdims=0),
        node(
            "LSTM",
            ["time_major", "W", "R", "B", "lengths"],
            ["", "last_state"],
            hidden_size=units,
            direction="bidirectional" if len(directions) == 2 else "forward",
        ),
        # [directions, batch, units] -> [batch, directions * units]: forward state then backward, as Keras concats.
        node("Transpose", ["last_state"], ["batch_major_state"], perm=[1, 0, 2]),
        node("Flatten", ["batch_major_state"], ["state"], axis=1),
        node("MatMul", ["state", "dense_kernel"], ["logit_unbiased"]),
        node("Add", ["logit_unbiased", "dense_bias"], ["logit"]),
        node("Sigmoid", ["logit"], ["probability_positive"]),
    ]
    graph = helper.make_graph(
        nodes,
        "lstm_sentiment",
        [helper.make_tensor_value_info(INPUT, TensorProto.INT32, [None, max_len])],
        [helper.make_tensor_value_info("probability_positive", TensorProto.FLOAT, [None, 1])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def export_onnx(model: Any, path: Path) -> None:
    import onnx

    graph = fused_lstm_graph(model)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
