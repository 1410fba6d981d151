"""The registered BERT's MLflow format: a fine-tuned transformers sequence classifier and its tokenizer.

Training (training_worker) writes it; the pyfunc reads raw tweets and answers a DataFrame with
`probability_positive` and `label`, the same contract as the LSTM and classical formats.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from sentiment_model.pyfunc import SentimentPyfunc

MODEL_ARTIFACT = "bert_model"
PREDICT_BATCH = 64


def bert_input(text: str) -> str:
    """What BERT reads: the shared preprocessing, so every family sees the same cleaned tweet."""
    from sentiment_model.preprocessing import preprocess_to_text

    return preprocess_to_text(text) or text.strip()


class BertSentimentModel(SentimentPyfunc):
    def load_context(self, context: Any) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = context.artifacts[MODEL_ARTIFACT]
        config = getattr(context, "model_config", None) or {}
        self.read_threshold(context)
        self.max_length = int(config.get("max_length", 64))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).to(self.device).eval()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
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
