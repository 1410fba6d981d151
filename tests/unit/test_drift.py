"""Drift statistics: bins, PSI, a test split's reference, a batch's counts and the rolling window's expiry."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from inference_worker.drift import BUCKET_S, DriftWatch, counts_of
from sentiment_model.encoder import SequenceEncoder
from shared.drift import DRIFT_REFERENCE_KEY, histogram, probability_bin, psi, reference_of, shares, stats_of
from shared.schemas.drift import DriftCounts


def test_probabilities_fall_in_ten_equal_bins_one_included() -> None:
    assert [probability_bin(p) for p in (0.0, 0.0999, 0.1, 0.55, 0.9999, 1.0)] == [0, 0, 1, 5, 9, 9]
    assert histogram([0.05, 0.05, 0.95]) == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]


def test_psi_is_zero_for_alike_distributions_and_large_for_a_collapsed_one() -> None:
    spread = shares([10] * 10)
    assert psi(spread, spread) == pytest.approx(0.0)
    slightly = shares([11, 9] * 5)
    assert 0 < psi(spread, slightly) < 0.1
    collapsed = shares([0, 0, 0, 0, 0, 100, 0, 0, 0, 0])
    assert psi(spread, collapsed) > 2.0  # every tweet in one bin: far past the usual 0.25


def test_the_reference_of_a_test_split() -> None:
    reference = reference_of(["ab", "abcd"], [0.2, 0.8], threshold=0.5, oov_share=0.1)
    assert reference.rows == 2 and reference.positive_share == 0.5 and reference.mean_text_chars == 3.0
    assert reference.probability_histogram[2] == reference.probability_histogram[8] == 0.5
    assert reference.oov_share == 0.1


def test_a_batch_counts_oov_tokens_of_what_the_model_read() -> None:
    encoder = SequenceEncoder.fit([["great", "crew"], ["late", "flight"]], max_len=6)
    texts = ["great crew", "zzqx late blorp"]
    ids = encoder.encode(texts)
    counts = counts_of(texts, np.array([0.9, 0.2]), ids, threshold=0.5)
    assert (counts.tokens, counts.oov_tokens) == (5, 2)
    assert counts.predictions == 2 and counts.positives == 1 and counts.text_chars == len(texts[0]) + len(texts[1])
    assert counts.probability_counts[9] == counts.probability_counts[2] == 1


def test_without_a_reference_there_is_no_psi() -> None:
    counts = DriftCounts(
        predictions=4, positives=1, text_chars=40, tokens=10, oov_tokens=5, probability_counts=[4] + [0] * 9
    )
    stats = stats_of("m", "3", counts, None, 3600)
    assert stats.psi is None and stats.oov_share == 0.5 and stats.positive_share == 0.25
    assert stats.mean_text_chars == 10.0


def test_the_window_forgets_what_it_served_longer_ago_than_it_covers() -> None:
    now = [10_000.0]
    watch = DriftWatch(window_s=2 * BUCKET_S, clock=lambda: now[0])
    reference = reference_of(["x"], [0.5], 0.5, 0.0).model_dump()
    serving = SimpleNamespace(
        name="m", version="3", threshold=0.5, model=SimpleNamespace(metadata={DRIFT_REFERENCE_KEY: reference})
    )
    ids = np.array([[2, 1, 0]])
    watch.observe(serving, ["ab"], np.array([0.95]), ids)
    now[0] += BUCKET_S
    watch.observe(serving, ["cd"], np.array([0.05]), ids)
    [entry] = watch.window()
    assert entry.counts.predictions == 2 and entry.reference is not None
    now[0] += BUCKET_S
    [entry] = watch.window()
    assert entry.counts.predictions == 1 and entry.counts.probability_counts[0] == 1
    now[0] += 2 * BUCKET_S
    assert watch.window() == []


def test_a_reference_binned_otherwise_gives_no_psi_rather_than_an_error() -> None:
    reference = reference_of(["x"], [0.5], 0.5, None).model_copy(update={"probability_histogram": [0.5, 0.5]})
    counts = DriftCounts(predictions=1, probability_counts=[1] + [0] * 9)
    assert stats_of("m", "3", counts, reference, 3600).psi is None
