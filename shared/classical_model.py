"""The registered classical model's MLflow format: a fitted scikit-learn pipeline behind the shared preprocessing.

Training (training_worker) writes it and anything that loads the pyfunc reads it: raw tweets in, a DataFrame with
`probability_positive` and `label` out, like the LSTM format, so promotion can score any champion the same way.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np

PIPELINE_ARTIFACT = "sklearn_pipeline"
DEFAULT_THRESHOLD = 0.5


def positive_scores(pipeline: Any, texts: list[str]) -> np.ndarray:
    """Probability-like scores of the positive class in [0, 1], whatever the final estimator offers."""
    if hasattr(pipeline, "predict_proba"):
        return np.asarray(pipeline.predict_proba(texts))[:, 1]
    # A bare margin (e.g. an uncalibrated linear SVM) squashed by a logistic: ranks are kept, 0 maps to 0.5.
    return 1.0 / (1.0 + np.exp(-np.asarray(pipeline.decision_function(texts), dtype=float)))


class ClassicalSentimentModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        import joblib

        self.pipeline = joblib.load(context.artifacts[PIPELINE_ARTIFACT])
        config = getattr(context, "model_config", None) or {}
        self.threshold = float(config.get("threshold", DEFAULT_THRESHOLD))

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        from shared.preprocessing import preprocess_to_text

        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text"].astype(str).tolist()
        elif isinstance(model_input, str):
            texts = [model_input]
        else:
            texts = [str(t) for t in model_input]
        if not texts:
            return pd.DataFrame({"probability_positive": np.zeros(0), "label": []})
        scores = positive_scores(self.pipeline, [preprocess_to_text(t) for t in texts])
        labels = ["positive" if p >= self.threshold else "negative" for p in scores]
        return pd.DataFrame({"probability_positive": scores.astype(float), "label": labels})
