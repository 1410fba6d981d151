"""Behavioural checks (training_worker/capabilities.py) of the bootstrap champion trained here.

The thresholds sit a little above what benchmarks/quality.py measured for the same model (docs/training.md), so a
change that breaks a capability fails here. Typos are not asserted: every model here fails them (out-of-vocabulary
words), and a bound they always exceed could not fail."""

from __future__ import annotations

import pytest

from sentiment_model.lstm import LstmScorer
from training_worker.capabilities import CapabilityResult, overall_failure_rate, run_capabilities, table

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
