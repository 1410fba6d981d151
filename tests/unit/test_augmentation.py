"""The distilled student's transfer set and the negation counterfactuals."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_model.encoder import SequenceEncoder
from training_worker.augmentation import (
    MASK_TOKEN,
    NEGATED_NEGATIVE_TARGET,
    NEGATED_POSITIVE_TARGET,
    augment,
    nearest_neighbours,
    negation_counterfactuals,
    polar_words,
    teacher_text,
)

TWEETS = [["crew", "great", "thank"], ["flight", "delay", "rude", "staff"], ["bag", "lost", "again"]] * 20


def test_augmented_copies_are_seeded_and_only_mask_swap_or_shorten() -> None:
    encoder = SequenceEncoder.fit(TWEETS)
    matrix = np.random.default_rng(0).normal(size=(encoder.vocab_size, 8)).astype(np.float32)
    neighbours = nearest_neighbours(encoder, matrix)
    assert all(neighbour != token for token, neighbour in neighbours.items())
    first = augment(TWEETS, neighbours, copies=3, seed=7)
    assert first == augment(TWEETS, neighbours, copies=3, seed=7)
    assert len(first) == 3 * len(TWEETS)
    allowed = set(encoder.vocabulary) | {MASK_TOKEN}
    assert all(set(row) <= allowed and 1 <= len(row) <= 4 for row in first)
    assert first != TWEETS * 3  # something changed
    assert teacher_text(["crew", MASK_TOKEN, "great"]) == "crew great"


def test_polar_words_come_from_the_lexicon_not_from_airline_names() -> None:
    polar = polar_words([["rude", "great", "unite", "crew", "awful", "love"]] * 5)
    assert polar["rude"] == 0 and polar["awful"] == 0
    assert polar["great"] == 1 and polar["love"] == 1
    assert "unite" not in polar and "crew" not in polar


def test_a_negated_sentiment_word_flips_or_neutralises_its_tweet() -> None:
    polar = {"rude": 0, "great": 1, "awful": 0}
    rows, targets = negation_counterfactuals(
        [["staff", "rude"], ["crew", "great"], ["not", "rude"], ["rude", "awful"], ["crew", "rude"]],
        [0, 1, 0, 0, 1],
        polar,
    )
    # Already negated, two polar words, or a polar word against the tweet's label: left out.
    assert rows == [["staff", "not", "rude"], ["crew", "not", "great"]]
    assert targets.tolist() == pytest.approx([NEGATED_NEGATIVE_TARGET, NEGATED_POSITIVE_TARGET])
