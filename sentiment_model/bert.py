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


def length_ordered_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices of `texts` in batches of similar length: a batch pads to its longest text, so mixed lengths waste
    most of a transformer's work on padding. Callers put each batch's scores back at these indices."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


class _TransformerPyfunc(SentimentPyfunc):
    """Reads the saved transformer folder, its tokenizer and settings; the GPU when there is one."""

    def _load_transformer(self, context: Any, model_class: Any) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoTokenizer

        path = context.artifacts[MODEL_ARTIFACT]
        config = getattr(context, "model_config", None) or {}
        self.read_threshold(context)
        self.max_length = int(config.get("max_length", 64))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = model_class.from_pretrained(path).to(self.device).eval()


class BertSentimentModel(_TransformerPyfunc):
    def load_context(self, context: Any) -> None:
        from transformers import AutoModelForSequenceClassification

        self._load_transformer(context, AutoModelForSequenceClassification)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        prepared = [bert_input(t) for t in texts]
        scores = np.zeros(len(prepared), dtype=np.float32)
        with torch.inference_mode():
            for idx in length_ordered_batches(prepared, PREDICT_BATCH):
                batch = self.tokenizer(
                    [prepared[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits
                scores[idx] = torch.softmax(logits, dim=-1)[:, 1].float().cpu().numpy()
        return scores


HEAD_ARTIFACT = "linear_head"


def mean_pooled(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, device: Any) -> np.ndarray:
    """Sentence embeddings: the encoder's last hidden states averaged over real tokens (sentence-transformers'
    pooling for MiniLM and MPNet), L2-normalised."""
    import torch

    prepared = [bert_input(t) for t in texts]
    embeddings: np.ndarray | None = None
    with torch.inference_mode():
        for idx in length_ordered_batches(prepared, PREDICT_BATCH):
            batch = tokenizer(
                [prepared[i] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            if embeddings is None:
                embeddings = np.zeros((len(prepared), pooled.shape[-1]), dtype=np.float32)
            embeddings[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
    return embeddings if embeddings is not None else np.zeros((0, 0), dtype=np.float32)


class FrozenEncoderSentimentModel(_TransformerPyfunc):
    """A BERT-family encoder left as trained, its mean-pooled embeddings under a logistic-regression head."""

    def load_context(self, context: Any) -> None:
        import json

        from transformers import AutoModel

        self._load_transformer(context, AutoModel)
        with open(context.artifacts[HEAD_ARTIFACT], encoding="utf-8") as handle:
            head = json.load(handle)
        self.coef = np.asarray(head["coef"], dtype=np.float64)
        self.intercept = float(head["intercept"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        embeddings = mean_pooled(self.model, self.tokenizer, texts, self.max_length, self.device)
        return (1.0 / (1.0 + np.exp(-(embeddings @ self.coef + self.intercept)))).astype(np.float32)
