"""The fixed split: same data + seed -> same split and hash; stratified; feedback rows only reach training."""

from __future__ import annotations

from training_worker.datasets import Dataset
from training_worker.splits import make_split


def _dataset(rows: int = 400, positive_every: int = 4) -> Dataset:
    texts = [f"tweet number {i} about flight {i % 17}" for i in range(rows)]
    labels = [1 if i % positive_every == 0 else 0 for i in range(rows)]
    return Dataset("synthetic", texts, labels)


def test_same_seed_gives_the_same_split_and_hash() -> None:
    first, second = make_split(_dataset(), seed=7), make_split(_dataset(), seed=7)
    assert first == second
    assert first.split_hash == second.split_hash
    assert make_split(_dataset(), seed=8).split_hash != first.split_hash


def test_split_is_stratified_disjoint_and_sized() -> None:
    split = make_split(_dataset(), seed=1, validation_fraction=0.1, test_fraction=0.2)
    assert (len(split.train_texts), len(split.val_texts), len(split.test_texts)) == (280, 40, 80)
    for labels in (split.train_labels, split.val_labels, split.test_labels):
        assert abs(sum(labels) / len(labels) - 0.25) < 0.02
    parts = [set(split.train_texts), set(split.val_texts), set(split.test_texts)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_describe_records_dataset_counts_and_hash() -> None:
    split = make_split(_dataset(), seed=3)
    described = split.describe()
    assert described["dataset"] == "synthetic"
    assert described["split_hash"] == split.split_hash
    assert described["rows_train"] + described["rows_validation"] + described["rows_test"] == 400
    assert len(str(described["dataset_hash"])) == 16


def test_feedback_rows_join_training_only() -> None:
    split = make_split(_dataset(), seed=3)
    leaked = split.test_texts[0]
    extended, extra = split.with_extra_training_rows(["@united brand new tweet", leaked], [1, 0])
    assert "@united brand new tweet" in extended.train_texts
    assert extended.train_texts.count(leaked) == 0
    assert extended.test_texts == split.test_texts and extended.val_texts == split.val_texts
    assert extended.split_hash != split.split_hash and extended.held_out_hash == split.held_out_hash
    assert (extra.added, extra.held_out, extra.duplicates) == (1, 1, 0)


def test_a_held_out_tweet_is_recognised_after_normalisation() -> None:
    split = make_split(_dataset(), seed=3)
    # The same words as a validation and a test tweet, but for case, a handle, a link and spacing.
    disguised = [
        "@delta  " + split.test_texts[0].upper() + " https://t.co/x",
        split.val_texts[0] + "   @united",
    ]
    extended, extra = split.with_extra_training_rows(disguised, [1, 1])
    assert extended == split and extra.held_out == 2 and extra.added == 0


def test_repeated_feedback_counts_once_with_its_latest_label() -> None:
    split = make_split(_dataset(), seed=3)
    already_trained = split.train_texts[0]
    extended, extra = split.with_extra_training_rows(
        ["@united lost my bag", "@UNITED lost my   bag", already_trained, "great crew"], [1, 0, 1, 1]
    )
    new_texts = extended.train_texts[len(split.train_texts) :]
    added = dict(zip(new_texts, extended.train_labels[len(split.train_labels) :], strict=True))
    assert added == {"@UNITED lost my   bag": 0, "great crew": 1}
    assert (extra.added, extra.held_out, extra.duplicates) == (2, 0, 2)
    assert extended.train_texts.count(already_trained) == 1
