"""The contract every registered family's pyfunc keeps: raw tweets in, `probability_positive` and `label` out.

Promotion re-scores any champion through it, the UI compares families through it, and `mlflow models serve`
answers with it; each family only says how it computes the probability of "positive".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mlflow.pyfunc
import numpy as np

DEFAULT_THRESHOLD = 0.5


def texts_of(model_input: Any) -> list[str]:
    """The tweets in whatever `predict` was given: a DataFrame with a `text` column, one string, or a list."""
    import pandas as pd

    if isinstance(model_input, pd.DataFrame):
        return model_input["text"].astype(str).tolist()
    if isinstance(model_input, str):
        return [model_input]
    return [str(text) for text in model_input]


class SentimentPyfunc(mlflow.pyfunc.PythonModel):
    threshold: float = DEFAULT_THRESHOLD

    def read_threshold(self, context: Any) -> None:
        config = getattr(context, "model_config", None) or {}
        self.threshold = float(config.get("threshold", DEFAULT_THRESHOLD))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of "positive" for each raw tweet."""
        raise NotImplementedError

    def label_of(self, probability_positive: float) -> str:
        return "positive" if probability_positive >= self.threshold else "negative"

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        texts = texts_of(model_input)
        probabilities = np.asarray(self.predict_proba(texts), dtype=float) if texts else np.zeros(0)
        return pd.DataFrame({"probability_positive": probabilities, "label": [self.label_of(p) for p in probabilities]})
