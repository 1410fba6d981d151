"""The registered BERT's MLflow format: a fine-tuned transformers sequence classifier and its tokenizer.

Training (training_worker) writes it; the pyfunc reads raw tweets and answers a DataFrame with
`probability_positive` and `label`, the same contract as the LSTM and classical formats.
"""

from __future__ import annotations

import os
from typing import Any

import mlflow.pyfunc
import numpy as np

MODEL_ARTIFACT = "bert_model"
DEFAULT_THRESHOLD = 0.5
PREDICT_BATCH = 64


def bert_input(text: str) -> str:
    """What BERT reads: the shared preprocessing, so every family sees the same cleaned tweet."""
    from shared.preprocessing import preprocess_to_text

    return preprocess_to_text(text) or text.strip()


class BertSentimentModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = context.artifacts[MODEL_ARTIFACT]
        config = getattr(context, "model_config", None) or {}
        self.threshold = float(config.get("threshold", DEFAULT_THRESHOLD))
        self.max_length = int(config.get("max_length", 64))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).to(self.device).eval()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), PREDICT_BATCH):
                batch = self.tokenizer(
                    [bert_input(t) for t in texts[start : start + PREDICT_BATCH]],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits
                out.append(torch.softmax(logits, dim=-1)[:, 1].float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text"].astype(str).tolist()
        elif isinstance(model_input, str):
            texts = [model_input]
        else:
            texts = [str(t) for t in model_input]
        scores = self.predict_proba(texts).astype(float)
        labels = ["positive" if p >= self.threshold else "negative" for p in scores]
        return pd.DataFrame({"probability_positive": scores, "label": labels})
