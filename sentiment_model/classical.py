"""The registered classical model's MLflow format: a fitted scikit-learn pipeline behind the shared preprocessing.

Training (training_worker) writes it and anything that loads the pyfunc reads it: raw tweets in, a DataFrame with
`probability_positive` and `label` out, like the LSTM format, so promotion can score any champion the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sentiment_model.pyfunc import SentimentPyfunc

PIPELINE_ARTIFACT = "sklearn_pipeline"


def positive_scores(pipeline: Any, texts: list[str]) -> np.ndarray:
    """Probability-like scores of the positive class in [0, 1], whatever the final estimator offers."""
    if hasattr(pipeline, "predict_proba"):
        return np.asarray(pipeline.predict_proba(texts))[:, 1]
    # A bare margin (e.g. an uncalibrated linear SVM) squashed by a logistic: ranks are kept, 0 maps to 0.5.
    return 1.0 / (1.0 + np.exp(-np.asarray(pipeline.decision_function(texts), dtype=float)))


class ClassicalSentimentModel(SentimentPyfunc):
    def load_context(self, context: Any) -> None:
        import joblib

        self.pipeline = joblib.load(context.artifacts[PIPELINE_ARTIFACT])
        self.read_threshold(context)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        from sentiment_model.preprocessing import preprocess_to_text

        return positive_scores(self.pipeline, [preprocess_to_text(t) for t in texts])
