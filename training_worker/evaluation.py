"""Test-set KPIs of a binary sentiment model; precision of the positive class comes first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


def classification_metrics(
    y_true: Sequence[int], probability_positive: Sequence[float], threshold: float = 0.5, prefix: str = "test_"
) -> dict[str, float]:
    y = np.asarray(y_true, dtype=int)
    proba = np.asarray(probability_positive, dtype=float)
    predicted = (proba >= threshold).astype(int)
    metrics = {
        "precision": precision_score(y, predicted, zero_division=0),
        "recall": recall_score(y, predicted, zero_division=0),
        "f1": f1_score(y, predicted, zero_division=0),
        "accuracy": accuracy_score(y, predicted),
        "roc_auc": roc_auc_score(y, proba) if len(set(y.tolist())) == 2 else float("nan"),
    }
    return {prefix + name: float(value) for name, value in metrics.items()}


def report_text(y_true: Sequence[int], probability_positive: Sequence[float], threshold: float = 0.5) -> str:
    predicted = (np.asarray(probability_positive) >= threshold).astype(int)
    return classification_report(
        np.asarray(y_true, dtype=int),
        predicted,
        labels=[0, 1],
        target_names=["negative", "positive"],
        digits=4,
        zero_division=0,
    )
