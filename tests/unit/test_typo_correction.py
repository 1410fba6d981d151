"""The encoder reads an unknown word as the vocabulary word one typo away, and nothing else."""

from __future__ import annotations

import json

import pytest

from sentiment_model.encoder import OOV_ID, SequenceEncoder

# "great" before "grate", "fail" before "foil" would be: ids rank the vocabulary by frequency.
TWEETS = [["great", "crew"]] * 3 + [["grate", "fail"]] * 2 + [["friendly", "helpful", "days", "delay"]]


@pytest.fixture
def encoder() -> SequenceEncoder:
    return SequenceEncoder.fit(TWEETS, max_len=4, real_words=["foil", "great", "the"])


def id_of(encoder: SequenceEncoder, token: str) -> int:
    return int(encoder.encode_tokens([[token]])[0, 0])


@pytest.mark.parametrize(
    ("typo", "word"),
    [
        ("grat", "great"),  # a dropped letter: of the two words it could come from, the more frequent one
        ("helpfull", "helpful"),  # a doubled letter
        ("freindly", "friendly"),  # two letters swapped
        ("frienfly", "friendly"),  # one letter wrong
    ],
)
def test_a_typo_reads_as_the_word_it_misspells(encoder: SequenceEncoder, typo: str, word: str) -> None:
    assert id_of(encoder, typo) == encoder.vocabulary[word]


@pytest.mark.parametrize(
    "token",
    [
        "foil",  # a real word the vocabulary lacks, one letter from "fail": kept as it is
        "bday",  # "days" with a letter moved, two edits: not one typo
        "crw",  # one letter from "crew", but under four letters: too many short words are that close
        "gr8",  # not a word of letters
        "<mask>",  # the augmentation's mask token stays unknown to the student
        "emoji_face",
        "zzzzzz",
    ],
)
def test_what_is_not_one_typo_of_a_word_stays_unknown(encoder: SequenceEncoder, token: str) -> None:
    assert id_of(encoder, token) == OOV_ID


def test_only_the_real_words_a_correction_would_change_are_kept(encoder: SequenceEncoder) -> None:
    # "great" is in the vocabulary and "the" is one typo from nothing in it: neither needs keeping.
    assert encoder.kept_words == ["foil"]


def test_a_saved_encoder_corrects_the_same_way(encoder: SequenceEncoder) -> None:
    loaded = SequenceEncoder.from_json(encoder.to_json())
    assert loaded.correct_typos and loaded.kept_words == ["foil"]
    tokens = [["grat", "freindly", "foil", "crew"]]
    assert (loaded.encode_tokens(tokens) == encoder.encode_tokens(tokens)).all()


def test_an_encoder_saved_without_the_option_keeps_the_ids_its_model_learnt(encoder: SequenceEncoder) -> None:
    data = json.loads(encoder.to_json())
    del data["correct_typos"], data["kept_words"]
    older = SequenceEncoder.from_json(json.dumps(data))
    assert not older.correct_typos
    assert id_of(older, "grat") == OOV_ID
    assert id_of(older, "great") == encoder.vocabulary["great"]


def test_correction_can_be_turned_off_at_training() -> None:
    plain = SequenceEncoder.fit(TWEETS, correct_typos=False, real_words=["foil"])
    assert id_of(plain, "grat") == OOV_ID and plain.kept_words == []
