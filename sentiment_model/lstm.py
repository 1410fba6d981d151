"""The registered LSTM's MLflow format: Keras model + ONNX export + encoder, served through the faster compiled path.

Training writes this format (training_worker) and both the inference worker and `mlflow models serve` read it,
so what is served is exactly what was trained: same preprocessing, same encoder, same weights.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_model.encoder import SequenceEncoder
from sentiment_model.pyfunc import SentimentPyfunc

log = logging.getLogger(__name__)

KERAS_ARTIFACT = "keras_model"
ONNX_ARTIFACT = "onnx_model"
ENCODER_ARTIFACT = "encoder"

BatchFn = Callable[[np.ndarray], np.ndarray]


def _tf_function_path(keras_path: str, max_len: int) -> BatchFn:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(keras_path, compile=False)
    compiled = tf.function(
        lambda ids: model(ids, training=False), input_signature=[tf.TensorSpec([None, max_len], tf.int32)]
    )

    def run(ids: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(tf.constant(ids, dtype=tf.int32))).reshape(-1)

    return run


def _onnx_path(onnx_file: str) -> BatchFn:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One inference thread per process: workers scale by processes, and two threads fight over 2 cores.
    options.intra_op_num_threads = int(os.environ.get("ORT_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_file, sess_options=options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(ids: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: ids.astype(np.int32, copy=False)})[0]).reshape(-1)

    return run


def _median_call_ms(fn: BatchFn, ids: np.ndarray, calls: int = 30) -> float:
    fn(ids)
    timings = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(ids)
        timings.append(time.perf_counter() - start)
    return float(np.median(timings) * 1000)


class LstmSentimentModel(SentimentPyfunc):
    """pyfunc wrapper: raw tweets in, probability of "positive" out."""

    fast_path_name: str = "unloaded"
    fast_path_timings_ms: dict[str, float]

    def load_context(self, context: Any) -> None:
        config = dict(context.model_config or {})
        self.read_threshold(context)
        self.embedding_type = str(config.get("embedding_type", "unknown"))
        self.encoder = SequenceEncoder.load(Path(context.artifacts[ENCODER_ARTIFACT]))
        self._select_fast_path(context.artifacts, os.environ.get("LSTM_FAST_PATH", "auto"))

    def _select_fast_path(self, artifacts: dict[str, str], preference: str) -> None:
        candidates: dict[str, Callable[[], BatchFn]] = {}
        if ONNX_ARTIFACT in artifacts and Path(artifacts[ONNX_ARTIFACT]).is_file():
            candidates["onnxruntime"] = lambda: _onnx_path(artifacts[ONNX_ARTIFACT])
        candidates["tf_function"] = lambda: _tf_function_path(artifacts[KERAS_ARTIFACT], self.encoder.max_len)
        if preference != "auto":
            if preference not in candidates:
                raise ValueError(f"LSTM_FAST_PATH={preference!r} is not available: choose from {sorted(candidates)}")
            candidates = {preference: candidates[preference]}
        probe = np.zeros((1, self.encoder.max_len), dtype=np.int32)
        probe[0, :3] = [2, 3, 4]
        built = {name: make() for name, make in candidates.items()}
        # Measure rather than assume: keep whichever path answers one tweet faster on this machine.
        self.fast_path_timings_ms = {name: _median_call_ms(fn, probe) for name, fn in built.items()}
        self.fast_path_name = min(self.fast_path_timings_ms, key=self.fast_path_timings_ms.__getitem__)
        self._run = built[self.fast_path_name]
        log.info("lstm fast path selected path=%s timings_ms=%s", self.fast_path_name, self.fast_path_timings_ms)

    def predict_ids(self, ids: np.ndarray) -> np.ndarray:
        return self._run(ids)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of "positive" for each raw tweet, through the shared preprocessing and encoder."""
        if not texts:
            return np.zeros((0,), dtype=np.float32)
        return self._run(self.encoder.encode(texts))
