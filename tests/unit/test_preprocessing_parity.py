"""Parity of the fast preprocessing with the implementation it replaced, on the whole bundled corpus.

`reference_preprocess` below is the earlier `sentiment_model.preprocessing.preprocess`, copied verbatim (names
prefixed): models trained on its output are served with the new one under the same PREPROCESSING_VERSION, so every
token list must be the same. benchmarks/preprocessing.py times the two against each other.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import emoji
import pytest
import simplemma

from sentiment_model.preprocessing import preprocess
from training_worker.datasets import bundled_corpus_path

# ---- reference implementation (verbatim but for names) ----

# Negations and contrast words carry sentiment ("not good", "never again", "but"): they are never stopwords.
_KEPT_NEGATIONS = frozenset({"not", "no", "never", "nor", "nothing", "nobody", "none", "neither", "nowhere", "but"})

_BASE_STOPWORDS = frozenset(
    """
    a about above after again all am an and any are as at be because been before being below between
    both by can could did do does doing down during each few for from further had has have having he her
    here hers herself him himself his how i if in into is it its itself just me more most my myself of
    off on once only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours yourself yourselves
    s t d ll m o re ve y rt amp via im
    """.split()  # noqa: SIM905
)
_STOPWORDS = _BASE_STOPWORDS - _KEPT_NEGATIONS

_POSITIVE_EMOTICON_TOKEN = "emoticon_happy"
_NEGATIVE_EMOTICON_TOKEN = "emoticon_sad"

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|net|org|co|ly)/\S*", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_POSITIVE_EMOTICONS = re.compile(r"(?:(?<=\s)|^)(?:[:;=8xX]-?[)\]dDpP*]|\(-?[:;=]|<3|\^_?\^)(?=\s|$|[.,!?])")
_NEGATIVE_EMOTICONS = re.compile(r"(?:(?<=\s)|^)(?:[:;=8]'?-?[(\[/\\|]|\)-?[:;=]|</3|-_-)(?=\s|$|[.,!?])")
# UTF-8 punctuation read as latin-1 leaves runs like "Ã¢â‚¬â„¢" or "Ã¤Ã³_": dropped, never turned into words.
_MOJIBAKE = re.compile(r"[\x80-\xff][\x80-\xff_]+|_[\x80-\xff]+")
_NEGATED_CONTRACTIONS = (
    (re.compile(r"\bcan'?t\b"), "can not"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\bain'?t\b"), "is not"),
    (re.compile(r"n't\b"), " not"),
)
_REPEATED_LETTERS = re.compile(r"([a-z])\1{2,}")
_SKIN_TONE = re.compile(r"_(?:(?:medium_)?(?:light|dark)|medium)_skin_tone$")
_TOKEN = re.compile(r"emoji_[a-z0-9_]+|emoticon_[a-z]+|[a-z]+|[!?]")


@lru_cache(maxsize=200_000)
def _lemma(token: str) -> str:
    return simplemma.lemmatize(token, lang="en").lower()


def _emoji_token(chars: str, data: dict) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", data["en"].strip(":").lower()).strip("_")
    name = _SKIN_TONE.sub("", name)  # 👍🏽 and 👍 mean the same thing here
    return f" emoji_{name} "


def _fold_to_ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def reference_preprocess(text: str) -> list[str]:
    """Turn one raw tweet into the token list every model family learns from and is served with.

    Handling, in order: HTML entities; URLs and @mentions removed (a handle names who is addressed, not
    how the writer feels); hashtags keep their words (#BadService -> bad service); emoticons and emoji
    become explicit tokens; negated contractions become "not"; letters repeated 3+ times are shortened to
    two (sooooo -> soo); tokens are lemmatized offline with simplemma; stopwords are dropped except
    negations. "!" and "?" are kept: they carry intensity.
    """
    text = html.unescape(text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)) + " ", text)
    text = _POSITIVE_EMOTICONS.sub(f" {_POSITIVE_EMOTICON_TOKEN} ", text)
    text = _NEGATIVE_EMOTICONS.sub(f" {_NEGATIVE_EMOTICON_TOKEN} ", text)
    text = emoji.replace_emoji(text, replace=_emoji_token)
    text = _MOJIBAKE.sub(" ", text)
    text = _fold_to_ascii(text).lower().replace("\u2019", "'")
    for pattern, replacement in _NEGATED_CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _REPEATED_LETTERS.sub(r"\1\1", text)
    tokens: list[str] = []
    for raw in _TOKEN.findall(text):
        if raw.startswith(("emoji_", "emoticon_")) or raw in ("!", "?"):
            tokens.append(raw)
            continue
        token = _lemma(raw)
        if token and token not in _STOPWORDS:
            tokens.append(token)
    return tokens


# ---- parity ----


def _corpus_texts() -> list[str]:
    """Every text of the bundled corpus, whatever its label (the reader of training keeps only two labels)."""
    import csv

    with bundled_corpus_path().open(encoding="latin-1", newline="") as handle:
        return [row.get("text") or "" for row in csv.DictReader(handle)]


def test_every_tweet_of_the_bundled_corpus_gives_the_same_tokens() -> None:
    texts = _corpus_texts()
    assert len(texts) > 38_000
    differing = [(text, reference_preprocess(text), preprocess(text)) for text in texts]
    differing = [row for row in differing if row[1] != row[2]]
    assert not differing, f"{len(differing)} tweets differ, first: {differing[:3]}"


EDGE_CASES = [
    # negation scope and contractions
    "I can't say this was not bad, never again, no thanks",
    "won't, ain't, didn't, isn't, cant, wont, aint, don\u2019t, CAN'T, Won't",
    "nothing nobody none neither nowhere nor but not",
    # handles, URLs, hashtags
    "@united flight &amp; crew http://t.co/AbC123 www.united.com/x",
    "@foo.com/x @bar_baz HTTPS://T.CO/X WWW.EXAMPLE.ORG bit.ly/abc united.co/ x.net/",
    "#WorstServiceEver #delayed #123 #a_b #ÉtéPourri #",
    "email me a@b.com or visit foo.com/bar?x=1#frag",
    # emoticons
    "thanks :) :-) ;) =D 8) xD XP :* (: <3 ^_^ ^^ delayed :( :-( :'( :/ :\\ :| ): </3 -_-",
    ":)) :)x a:) (:( x:(",
    # emoji, skin tones, ZWJ sequences, keycaps, variation selectors, non-RGI joins
    "love it 😍 👍🏽 👍 👩‍👩‍👧 👨🏿‍🚀 🏳️‍🌈 ❤️ ❤ ☺︎ #️⃣ 1️⃣ *️⃣ © ® ™ 🇫🇷",
    "😂😂😂 so funny 🙄‍🙄 \u200d\ufe0f\ufe0e lone joiners",
    # mojibake from the latin-1 corpus, accents, other scripts
    "no thank you_\x8e\xd3_. Ã¢â‚¬â„¢ Ã¤Ã³_ café naïve Ångström",
    "مرحبا بكم שלום 日本語 ΑΒΓ",
    # repeated letters, case, punctuation
    "sooooo goooood!!! WHYYYY??? Noooo",
    # repeated letters inside emoji names and next to the emoji_/emoticon_ prefixes, emoticons after tabs/newlines
    "zzz 💤💤 emmmoji_x eeemoji_smile emoji_zzz emoticon_sssad emoticonnn_happy",
    "ok\t:)\n:(\r;-) x\n-_-\t</3",
    "",
    "   ",
    "\u202eevil\u202c \x07\x1b[31m",
    "🙂" * 280,
]
# Each emoticon alone in a sentence, so that no other character of the text can stand in for its own.
EMOTICONS = ":) :-) ;) =D 8) xD xd XP 8p :* (: (-; <3 ^_^ ^^ :( :-( :'( :/ :\\ :| ): )-: </3 -_- 8[".split()  # noqa: SIM905
EDGE_CASES += [f"ok {emoticon} ok" for emoticon in EMOTICONS] + [f"{emoticon}." for emoticon in EMOTICONS]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_give_the_same_tokens(text: str) -> None:
    assert preprocess(text) == reference_preprocess(text)


def test_random_mixtures_of_tricky_characters_give_the_same_tokens() -> None:
    import random

    pieces = [
        *"abcxyzABCXYZ019 .,!?'#@&:;=()<>^_-/\\|*8\u2019",
        "n't", "can", "won", "ain", "^_^", "xD", "</3", "http://", "www.", ".com/", "&amp;", "&lt;3", ":)", ":(", "<3",
        "-_-",
        "😍", "👍", "🏽", "\u200d", "\ufe0f", "\ufe0e", "\u20e3", "©", "®", "é", "\u0301", "Ã", "¢", "\x80", "\x99",
        "🇫", "🇷", "👩", "👧", "soooo", "delayed", "flights", "not", "💤", "zzz", "emoji_", "emoticon_", "\n", "\t",
    ]  # fmt: skip
    rng = random.Random(22)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(20_000)]
    differing = [text for text in texts if preprocess(text) != reference_preprocess(text)]
    assert not differing, f"{len(differing)} strings differ, first: {differing[:3]!r}"
