"""The registered LSTM's format: an ONNX graph, the encoder JSON and a signed manifest, read as data only.

Training writes it (training_worker/families/lstm.py). The inference worker reads it with `load_verified_lstm`,
which parses the manifest, checks its signature and the two files' digests, and builds an ONNX Runtime session:
nothing is unpickled and no model code is imported. The pyfunc wrapper below serves the same scorer to
`mlflow models serve` and to promotion's re-scoring.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_model.encoder import SequenceEncoder
from sentiment_model.manifest import Manifest, ModelNotTrusted, read_verified
from sentiment_model.pyfunc import DEFAULT_THRESHOLD, SentimentPyfunc

log = logging.getLogger(__name__)

KERAS_ARTIFACT = "keras_model"
ONNX_ARTIFACT = "onnx_model"
ENCODER_ARTIFACT = "encoder"
# Where MLflow copies the two serving artifacts inside the model folder (artifacts/<file name>).
ONNX_FILE = "artifacts/model.onnx"
ENCODER_FILE = "artifacts/encoder.json"
SERVING_FILES = (ONNX_FILE, ENCODER_FILE)


@dataclass
class LstmScorer:
    """Raw tweets in, probability of "positive" out: the shared preprocessing, the encoder, the ONNX graph."""

    encoder: SequenceEncoder
    onnx_bytes: bytes
    threshold: float = DEFAULT_THRESHOLD
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One inference thread per process: workers scale by processes, and two threads fight over 2 cores.
        options.intra_op_num_threads = int(os.environ.get("ORT_INTRA_OP_THREADS", "1"))
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(self.onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def predict_ids(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(None, {self._input: ids.astype(np.int32, copy=False)})[0]).reshape(-1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0,), dtype=np.float32)
        return self.predict_ids(self.encoder.encode(texts))

    def label_of(self, probability_positive: float) -> str:
        return "positive" if probability_positive >= self.threshold else "negative"

    @property
    def embedding_type(self) -> str:
        return str(self.metadata.get("embedding_type", self.encoder.extra.get("embedding_type", "unknown")))


def scorer_from_files(onnx_file: Path, encoder_file: Path, metadata: dict[str, Any]) -> LstmScorer:
    threshold = float(metadata.get("threshold", DEFAULT_THRESHOLD))
    if not 0.0 <= threshold <= 1.0:
        raise ModelNotTrusted(f"threshold {threshold} is outside [0, 1]")
    encoder = SequenceEncoder.load(encoder_file)
    return LstmScorer(encoder, onnx_file.read_bytes(), threshold, metadata)


def load_verified_lstm(folder: Path, signing_key: str) -> tuple[LstmScorer, Manifest]:
    """The scorer of a downloaded folder holding `manifest.json` and the serving files, once they are trusted."""
    manifest = read_verified(folder, signing_key, SERVING_FILES)
    if manifest.family != "lstm":
        raise ModelNotTrusted(f"manifest is for the {manifest.family!r} family, not an LSTM")
    return scorer_from_files(folder / ONNX_FILE, folder / ENCODER_FILE, manifest.metadata), manifest


class LstmSentimentModel(SentimentPyfunc):
    """pyfunc wrapper over the same scorer, for `mlflow models serve` and for re-scoring a champion."""

    def load_context(self, context: Any) -> None:
        self.read_threshold(context)
        config = dict(context.model_config or {})
        metadata = {"threshold": self.threshold, "embedding_type": config.get("embedding_type", "unknown")}
        artifacts = context.artifacts
        self.scorer = scorer_from_files(Path(artifacts[ONNX_ARTIFACT]), Path(artifacts[ENCODER_ARTIFACT]), metadata)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.scorer.predict_proba(texts)
