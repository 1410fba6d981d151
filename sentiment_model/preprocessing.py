"""The one text preprocessing function that training and serving both use: tweet text in, tokens out."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import emoji
import simplemma

# What `preprocess` produces is part of every trained model: any change to its output is a new version, and a
# model refuses to load under another one (sentiment_model/encoder.py).
PREPROCESSING_VERSION = "v1"

# Negations and contrast words carry sentiment ("not good", "never again", "but"): they are never stopwords.
KEPT_NEGATIONS = frozenset({"not", "no", "never", "nor", "nothing", "nobody", "none", "neither", "nowhere", "but"})

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
STOPWORDS = _BASE_STOPWORDS - KEPT_NEGATIONS

POSITIVE_EMOTICON_TOKEN = "emoticon_happy"
NEGATIVE_EMOTICON_TOKEN = "emoticon_sad"

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


def preprocess(text: str) -> list[str]:
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
    text = _POSITIVE_EMOTICONS.sub(f" {POSITIVE_EMOTICON_TOKEN} ", text)
    text = _NEGATIVE_EMOTICONS.sub(f" {NEGATIVE_EMOTICON_TOKEN} ", text)
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
        if token and token not in STOPWORDS:
            tokens.append(token)
    return tokens


def preprocess_to_text(text: str) -> str:
    """The same preprocessing, joined with spaces: the input of bag-of-words vectorizers and BERT."""
    return " ".join(preprocess(text))
