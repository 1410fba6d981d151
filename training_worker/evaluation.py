"""KPIs of a binary sentiment model: precision of "positive" at the version's operating point comes first.

The operating point is the decision threshold chosen on the validation split for a target precision, with a
standard error to spare; recall at the target precision (on test) ranks versions, and ROC/PR AUC describe the
scores whatever the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    classification_report,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

DEFAULT_TARGET_PRECISION = 0.90
# The threshold of most recall that touches the target on a jagged validation curve is a lucky draw: on test its
# precision lands below the target, by about a standard error. The operating point keeps that much in hand.
CONFIDENCE_Z = 1.0


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a version is served with, and what it gave on the split it was chosen on."""

    threshold: float
    target_precision: float
    target_met: bool
    precision: float
    recall: float

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)


def _curve(y_true: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at each distinct score used as threshold (`score >= threshold` is positive)."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true, dtype=int), np.asarray(scores))
    return precision[:-1], recall[:-1], thresholds


def _precision_lower_bound(precision: np.ndarray, recall: np.ndarray, positives: int) -> np.ndarray:
    """The Wilson score lower bound, one standard error (z = 1) under each threshold's precision, from the count of
    tweets it answers "positive" (true positives = recall x positives, divided by precision)."""
    true_positives = recall * positives
    answered = np.divide(true_positives, precision, out=np.ones_like(precision), where=precision > 0)
    n = np.maximum(answered, 1.0)
    z2 = CONFIDENCE_Z**2
    centre = precision + z2 / (2 * n)
    spread = CONFIDENCE_Z * np.sqrt(precision * (1 - precision) / n + z2 / (4 * n * n))
    return (centre - spread) / (1 + z2 / n)


def choose_operating_point(
    y_true: Sequence[int], scores: Sequence[float], target_precision: float = DEFAULT_TARGET_PRECISION
) -> OperatingPoint:
    """The threshold with the highest recall among those whose precision reaches `target_precision` with one
    standard error to spare; where none has that margin (a small validation split), among those whose precision
    reaches it; if none does, the one of highest precision (ties: higher recall), recorded as a missed target."""
    y = np.asarray(y_true, dtype=int)
    if y.sum() == 0 or y.sum() == len(y):
        return OperatingPoint(0.5, target_precision, False, 0.0, 0.0)
    precision, recall, thresholds = _curve(y, scores)
    confident = np.flatnonzero(_precision_lower_bound(precision, recall, int(y.sum())) >= target_precision)
    reaching = confident if confident.size else np.flatnonzero(precision >= target_precision)
    if reaching.size:
        best = reaching[np.lexsort((precision[reaching], recall[reaching]))[-1]]
        met = True
    else:
        best = np.lexsort((recall, precision))[-1]
        met = False
    return OperatingPoint(float(thresholds[best]), target_precision, met, float(precision[best]), float(recall[best]))


def recall_at_precision(y_true: Sequence[int], scores: Sequence[float], target_precision: float) -> float:
    """The most recall any threshold keeps while precision stays at or above the target (0 when none does)."""
    y = np.asarray(y_true, dtype=int)
    if y.sum() == 0:
        return 0.0
    precision, recall, _ = _curve(y, scores)
    reaching = precision >= target_precision
    return float(recall[reaching].max()) if reaching.any() else 0.0


def classification_metrics(
    y_true: Sequence[int],
    probability_positive: Sequence[float],
    threshold: float = 0.5,
    prefix: str = "test_",
    target_precision: float = DEFAULT_TARGET_PRECISION,
) -> dict[str, float]:
    y = np.asarray(y_true, dtype=int)
    proba = np.asarray(probability_positive, dtype=float)
    predicted = (proba >= threshold).astype(int)
    both_classes = len(set(y.tolist())) == 2
    metrics = {
        "precision": precision_score(y, predicted, zero_division=0),
        "recall": recall_score(y, predicted, zero_division=0),
        "f1": f1_score(y, predicted, zero_division=0),
        "accuracy": accuracy_score(y, predicted),
        "roc_auc": roc_auc_score(y, proba) if both_classes else float("nan"),
        "pr_auc": average_precision_score(y, proba) if both_classes else float("nan"),
        "recall_at_target_precision": recall_at_precision(y, proba, target_precision),
        "threshold": threshold,
        "positive_rate": float(predicted.mean()) if len(predicted) else 0.0,
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
