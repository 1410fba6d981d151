"""The operating point: the threshold of highest recall that reaches the target precision with a standard error to
spare, chosen on validation; and the promotion rule on figures, which refuses a degenerate model whatever the
champion."""

from __future__ import annotations

import numpy as np
import pytest

from training_worker.evaluation import choose_operating_point, classification_metrics, recall_at_precision
from training_worker.promotion import ModelFigures, decide

# Six positives, six negatives; scores sorted so that each threshold's precision and recall are easy to read.
LABELS = [1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0]
SCORES = [0.95, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1]


def test_threshold_reaches_the_target_with_the_most_recall() -> None:
    point = choose_operating_point(LABELS, SCORES, 0.8)
    # At 0.65: 5 of 6 positives, 1 negative among 6 answered "positive": precision 0.833, recall 0.833.
    assert point.threshold == pytest.approx(0.65)
    assert point.target_met and point.precision == pytest.approx(5 / 6) and point.recall == pytest.approx(5 / 6)
    assert classification_metrics(LABELS, SCORES, point.threshold)["test_precision"] >= 0.8


def test_on_a_large_validation_split_the_threshold_keeps_a_standard_error_in_hand() -> None:
    # A model whose validation precision sinks to the target at its 400th "positive": of the first 300 in score
    # order 95 % are right, of the next 100 75 %, of the rest half. The edge (precision 0.900, the most recall that
    # reaches it) is a draw: test would land under it about half the time.
    labels = ([1] * 19 + [0]) * 15 + [1, 1, 1, 0] * 25 + [1, 0] * 300
    scores = np.linspace(1.0, 0.0, len(labels), endpoint=False)
    point = choose_operating_point(labels, scores, 0.9)
    assert point.target_met
    answered = int(np.sum(scores >= point.threshold))
    assert 300 <= answered < 400, answered
    assert point.precision >= 0.9 + np.sqrt(0.9 * 0.1 / answered) - 0.002


def test_test_precision_at_the_chosen_threshold_is_at_the_target_on_average() -> None:
    """Validation and test drawn again and again from one model the size of the bundled corpus's splits: the served
    precision is at least the target on average, and under the promotion floor (target - 0.02) rarely."""
    rng = np.random.default_rng(0)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = (rng.random(n) < 0.3).astype(int)
        return labels, np.where(labels == 1, rng.beta(5, 2, n), rng.beta(2, 4, n))

    served = []
    for _ in range(200):
        point = choose_operating_point(*draw(2200), 0.9)
        test_labels, test_scores = draw(4500)
        served.append(classification_metrics(test_labels, test_scores, point.threshold)["test_precision"])
    assert np.mean(served) >= 0.9
    assert np.mean(np.array(served) < 0.88) <= 0.06


def test_an_unreachable_target_keeps_the_most_precise_threshold_and_says_so() -> None:
    scores = [0.9, 0.9, 0.2, 0.2]
    point = choose_operating_point([1, 0, 1, 0], scores, 0.9)
    assert not point.target_met
    assert point.precision == pytest.approx(0.5)


def test_recall_at_precision_is_read_off_the_curve() -> None:
    assert recall_at_precision(LABELS, SCORES, 0.8) == pytest.approx(5 / 6)
    assert recall_at_precision(LABELS, SCORES, 1.0) == pytest.approx(3 / 6)
    assert recall_at_precision([0, 0, 1], [0.9, 0.8, 0.1], 0.9) == 0.0
    metrics = classification_metrics(LABELS, SCORES, 0.5)
    assert {"test_pr_auc", "test_recall_at_target_precision", "test_threshold"} <= set(metrics)


def _figures(precision: float, recall: float, recall_at_target: float) -> ModelFigures:
    return ModelFigures("2", 0.5, precision, recall, recall_at_target, "this run")


def test_a_high_precision_low_recall_candidate_is_refused_even_without_a_champion() -> None:
    decision = decide(_figures(precision=0.99, recall=0.1, recall_at_target=0.1), None, 0.9)
    assert not decision.promoted and "recall" in decision.reason


def test_a_candidate_missing_the_target_at_its_threshold_is_refused() -> None:
    champion = _figures(0.9, 0.6, 0.5)
    decision = decide(_figures(precision=0.87, recall=0.9, recall_at_target=0.9), champion, 0.9)
    assert not decision.promoted and "precision" in decision.reason


def test_recall_at_the_target_decides_between_two_sound_models() -> None:
    champion = _figures(0.9, 0.6, 0.6)
    assert decide(_figures(0.9, 0.7, 0.61), champion, 0.9).promoted
    assert not decide(_figures(0.95, 0.7, 0.6), champion, 0.9).promoted
    assert decide(_figures(0.89, 0.5, 0.5), None, 0.9).promoted  # within the 0.02 shortfall, no champion


def test_scores_are_floats_not_labels() -> None:
    point = choose_operating_point(np.array(LABELS), np.array(SCORES), 0.5)
    assert 0.0 < point.threshold < 1.0
