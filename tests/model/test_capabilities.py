"""Behavioural checks (training_worker/capabilities.py) of the bootstrap champion trained here.

The thresholds sit a little above what benchmarks/quality.py measured for the same model (docs/training.md), so a
change that breaks a capability fails here. A typo's rate is not bounded apart: the encoder reads a misspelt word as
the word itself, so the typo'd tweet must score exactly as the original does."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_model.lstm import LstmScorer
from training_worker.capabilities import TYPOS, CapabilityResult, overall_failure_rate, run_capabilities, table

pytestmark = [pytest.mark.slow, pytest.mark.integration]

MAX_FAILURE = {
    "clear positive": 0.55,
    "clear negative": 0.05,
    "negated positive is not positive": 0.10,
    "negated negative is not confidently negative": 0.25,
    "noise (URL, hashtag, emoji, handle) keeps the label": 0.10,
    "another airline keeps the label": 0.05,
    "an added complaint lowers the score": 0.05,
}
MAX_OVERALL_FAILURE = 0.20


@pytest.fixture(scope="module")
def results(served_student: LstmScorer) -> dict[str, CapabilityResult]:
    found = run_capabilities(served_student.predict_proba, served_student.threshold)
    print(table(found))
    return found


@pytest.mark.parametrize("capability", sorted(MAX_FAILURE))
def test_capability(results: dict[str, CapabilityResult], capability: str) -> None:
    result = results[capability]
    assert result.cases >= 30
    assert result.failure_rate <= MAX_FAILURE[capability], (result.failure_rate, result.examples)


def test_overall_failure_rate(results: dict[str, CapabilityResult]) -> None:
    assert overall_failure_rate(results) <= MAX_OVERALL_FAILURE


def test_the_served_threshold_keeps_answers_judged_by_it(served_student: LstmScorer) -> None:
    probabilities = served_student.predict_proba(["@united the crew was wonderful, thank you!"])
    assert served_student.label_of(float(probabilities[0])) == "positive"
    assert 0.0 < served_student.threshold < 1.0


def test_a_typo_scores_as_the_word_it_misspells(served_student: LstmScorer) -> None:
    # Not "grat": the lemmatizer reads it as a form of "greet", before the encoder sees it.
    typos = {word: typo for word, typo in TYPOS.items() if word != "great"}
    originals = [f"@united the crew was {word}" for word in typos]
    misspelt = [f"@united the crew was {typo}" for typo in typos.values()]
    assert served_student.encoder.correct_typos
    np.testing.assert_allclose(served_student.predict_proba(misspelt), served_student.predict_proba(originals))
