"""The one preprocessing function, on real tweet shapes."""

from __future__ import annotations

import pytest

from sentiment_model.preprocessing import (
    NEGATIVE_EMOTICON_TOKEN,
    POSITIVE_EMOTICON_TOKEN,
    STOPWORDS,
    preprocess,
    preprocess_to_text,
)


def test_urls_mentions_and_html_entities_are_removed() -> None:
    tokens = preprocess("@united flight &amp; crew http://t.co/AbC123 www.united.com/x")
    assert tokens == ["flight", "crew"]


def test_hashtags_keep_their_words_split_on_camel_case() -> None:
    assert preprocess("#WorstServiceEver") == preprocess("worst service ever")
    assert "delay" in preprocess("#delayed")


def test_negations_survive_stopword_removal() -> None:
    tokens = preprocess("I can't say this was not bad, never again, no thanks")
    for negation in ("not", "never", "no"):
        assert negation in tokens
    assert not {"not", "no", "never", "nor"} & STOPWORDS


def test_negated_contractions_become_not() -> None:
    assert preprocess("didn't") == ["not"]
    assert preprocess("won't")[-1] == "not"


def test_repeated_letters_are_shortened() -> None:
    assert preprocess("sooooo goooood") == preprocess("soo good")


def test_emoticons_and_emoji_become_explicit_tokens() -> None:
    assert POSITIVE_EMOTICON_TOKEN in preprocess("thanks :)")
    assert NEGATIVE_EMOTICON_TOKEN in preprocess("delayed again :(")
    tokens = preprocess("love it 😍")
    assert "emoji_smiling_face_with_heart_eyes" in tokens
    # Skin tones do not change meaning.
    assert preprocess("👍🏽") == preprocess("👍")


def test_lemmatization_is_offline_and_english() -> None:
    assert preprocess("flights were delayed") == ["flight", "delay"]


def test_mojibake_from_the_latin1_corpus_is_dropped_not_turned_into_words() -> None:
    assert preprocess("no thank you_\x8e\xd3_.") == ["no", "thank"]


@pytest.mark.parametrize("text", ["", "   ", "مرحبا بكم", "שלום", "🙂" * 280, "\u202eevil\u202c", "\x07\x1b[31m"])
def test_any_unicode_gives_a_list_without_crashing(text: str) -> None:
    assert isinstance(preprocess(text), list)


def test_text_form_joins_tokens() -> None:
    assert preprocess_to_text("Flights were delayed!") == "flight delay !"
