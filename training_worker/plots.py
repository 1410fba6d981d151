"""The PNGs people look at for every registered model: confusion matrix, ROC, precision-recall, training curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # workers have no display

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evaluation_plots(
    y_true: Sequence[int], probability_positive: Sequence[float], threshold: float, title: str, out_dir: Path
) -> list[Path]:
    y = np.asarray(y_true, dtype=int)
    proba = np.asarray(probability_positive, dtype=float)
    predicted = (proba >= threshold).astype(int)
    paths = []

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ConfusionMatrixDisplay.from_predictions(
        y, predicted, labels=[0, 1], display_labels=["negative", "positive"], cmap="Blues", ax=ax, colorbar=False
    )
    ax.set_title(f"Confusion matrix — {title}", fontsize=9)
    paths.append(_save(fig, out_dir / "confusion_matrix.png"))

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    RocCurveDisplay.from_predictions(y, proba, ax=ax, name=title)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set_title("ROC curve", fontsize=9)
    paths.append(_save(fig, out_dir / "roc_curve.png"))

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    PrecisionRecallDisplay.from_predictions(y, proba, ax=ax, name=title)
    ax.set_title("Precision–recall curve (positive class)", fontsize=9)
    paths.append(_save(fig, out_dir / "precision_recall_curve.png"))
    return paths


def training_curves(history: dict[str, list[float]], title: str, out_dir: Path) -> Path:
    """Loss and accuracy per epoch, train vs validation."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-"), ("val_" + metric, "--")):
            if key in history:
                values = history[key]
                ax.plot(range(1, len(values) + 1), values, style, marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric, fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, out_dir / "training_curves.png")
