"""Data tests of the bundled corpus and the split every family trains on (Made-With-ML style)."""

from __future__ import annotations

import pytest

from sentiment_model.preprocessing import preprocess
from training_worker.datasets import duplicate_key, load_dataset
from training_worker.splits import make_split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundled():
    return load_dataset("bundled")


def test_bundled_corpus_row_counts(bundled) -> None:
    airline = load_dataset("bundled-airline")
    # Positive/negative tweets once duplicates (equal but for case, links, handles, spacing) are dropped.
    assert (len(bundled), bundled.positives) == (22_261, 6_726)
    assert (len(airline), airline.positives) == (11_312, 2_234)


def test_no_tweet_sits_in_two_splits_after_normalisation(bundled) -> None:
    split = make_split(bundled, 42, 0.1, 0.2)
    parts = {
        name: {duplicate_key(t) for t in texts}
        for name, texts in (("train", split.train_texts), ("val", split.val_texts), ("test", split.test_texts))
    }
    assert not parts["train"] & parts["test"]
    assert not parts["train"] & parts["val"]
    assert not parts["val"] & parts["test"]


def test_label_balance_is_recorded_and_kept_by_the_stratified_split(bundled) -> None:
    split = make_split(bundled, 42, 0.1, 0.2)
    described = split.describe()
    assert described["positives_train"] == sum(split.train_labels)
    assert described["positives_test"] == sum(split.test_labels)
    overall = bundled.positives / len(bundled)
    for labels in (split.train_labels, split.val_labels, split.test_labels):
        assert sum(labels) / len(labels) == pytest.approx(overall, abs=0.005)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("the crew was not bad", ["not", "bad"]),
        ("the food wasn't good", ["not", "good"]),
        ("I can't complain, never again late", ["not", "complain", "never"]),
        ("nothing was helpful, nobody answered", ["nothing", "helpful", "nobody"]),
        ("good flight but no legroom", ["good", "but", "no"]),
    ],
)
def test_preprocessing_keeps_negation_and_its_scope(text: str, kept: list[str]) -> None:
    tokens = preprocess(text)
    positions = [tokens.index(token) for token in kept]
    assert positions == sorted(positions), tokens  # negations stay before the words they negate
