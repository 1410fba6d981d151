"""The one text preprocessing function that training and serving both use: tweet text in, tokens out."""

from __future__ import annotations

import html
import re
import unicodedata

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
# Without a "/" only the www. form of _URL can match.
_WWW_URL = re.compile(r"www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# An emoticon starts a word: `(?<!\S.)`, read after its first character, is "at the start or after whitespace".
# Each pattern opens with the set of its first characters, so the regex engine skips to candidates instead of
# trying every position; which alternative applies is decided by the character it opened with.
_POSITIVE_EMOTICONS = re.compile(
    r"[:;=8xX(<^](?<!\S.)(?:(?<=[:;=8xX])-?[)\]dDpP*]|(?<=\()-?[:;=]|(?<=<)3|(?<=\^)_?\^)(?=\s|$|[.,!?])"
)
_NEGATIVE_EMOTICONS = re.compile(
    r"[:;=8)<-](?<!\S.)(?:(?<=[:;=8])'?-?[(\[/\\|]|(?<=\))-?[:;=]|(?<=<)/3|(?<=-)_-)(?=\s|$|[.,!?])"
)
# UTF-8 punctuation read as latin-1 leaves runs like "Ã¢â‚¬â„¢" or "Ã¤Ã³_": dropped, never turned into words.
_MOJIBAKE = re.compile(r"[\x80-\xff][\x80-\xff_]+|_[\x80-\xff]+")
# Each with a literal its pattern cannot match without.
_NEGATED_CONTRACTIONS = (
    ("can", re.compile(r"\bcan'?t\b"), "can not"),
    ("won", re.compile(r"\bwon'?t\b"), "will not"),
    ("ain", re.compile(r"\bain'?t\b"), "is not"),
    ("n't", re.compile(r"n't\b"), " not"),
)
_REPEATED_LETTERS = re.compile(r"([a-z])\1{2,}")
_SKIN_TONE = re.compile(r"_(?:(?:medium_)?(?:light|dark)|medium)_skin_tone$")
_TOKEN = re.compile(r"emoji_[a-z0-9_]+|emoticon_[a-z]+|[a-z]+|[!?]")
_POSITIVE_REPLACEMENT = f" {POSITIVE_EMOTICON_TOKEN} "
_NEGATIVE_REPLACEMENT = f" {NEGATIVE_EMOTICON_TOKEN} "
# Every emoticon of each pattern holds one of these characters: a text without any cannot match it.
_POSITIVE_EMOTICON_CHARS = frozenset(":;=8xX<^")
_NEGATIVE_EMOTICON_CHARS = frozenset("([/\\|)_")


# Every character that occurs in an emoji (none is all ASCII), and the variation selectors the emoji tokenizer drops
# wherever they are: a text with none of them comes out of `emoji.replace_emoji` unchanged, so its scan is skipped.
_EMOJI_CHARS = frozenset({ch for code in emoji.EMOJI_DATA for ch in code if not ch.isascii()} | {"\ufe0e", "\ufe0f"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# Raw token -> what it becomes (repeated letters shortened, then the lemma, or the token itself for emoji, emoticons,
# ! and ?), or None when dropped (stopword, empty lemma): one dict lookup per token. Cleared when full, so memory
# stays bounded on odd input.
_TOKEN_CACHE: dict[str, str | None] = {}
_TOKEN_CACHE_MAX = 200_000


def _resolve(raw: str) -> str | None:
    # Shortening repeated letters token by token gives what shortening the whole text would: every letter is in a
    # token, a token never ends inside a run of letters, and no shortened run turns into "emoji" or "emoticon".
    raw = _REPEATED_LETTERS.sub(r"\1\1", raw)
    if raw.startswith(("emoji_", "emoticon_")) or raw in ("!", "?"):
        return raw
    token = simplemma.lemmatize(raw, lang="en").lower()
    return token if token and token not in STOPWORDS else None


def _resolve_all(raws: list[str]) -> list[str]:
    cache = _TOKEN_CACHE
    try:
        resolved = [cache[raw] for raw in raws]
    except KeyError:
        if len(cache) > _TOKEN_CACHE_MAX:
            cache.clear()
        for raw in raws:
            if raw not in cache:
                cache[raw] = _resolve(raw)
        resolved = [cache[raw] for raw in raws]
    return [token for token in resolved if token is not None]


def _emoji_token(chars: str, data: dict) -> str:
    name = _NON_ALNUM.sub("_", data["en"].strip(":").lower()).strip("_")
    name = _SKIN_TONE.sub("", name)  # 👍🏽 and 👍 mean the same thing here
    return f" emoji_{name} "


def _fold_to_ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _hashtag_words(match: re.Match[str]) -> str:
    return " " + _CAMEL.sub(" ", match.group(1)) + " "


def preprocess(text: str) -> list[str]:
    """Turn one raw tweet into the token list every model family learns from and is served with.

    Handling, in order: HTML entities; URLs and @mentions removed (a handle names who is addressed, not
    how the writer feels); hashtags keep their words (#BadService -> bad service); emoticons and emoji
    become explicit tokens; negated contractions become "not"; letters repeated 3+ times are shortened to
    two (sooooo -> soo); tokens are lemmatized offline with simplemma; stopwords are dropped except
    negations. "!" and "?" are kept: they carry intensity.
    """
    # NOTE: each step is skipped only where it provably changes nothing (its pattern needs a character the text
    # lacks): the output must stay that of PREPROCESSING_VERSION, token for token.
    text = html.unescape(text)
    if "/" in text:
        text = _URL.sub(" ", text)
    elif "www." in text.lower():  # no other character lowers to, or matches case-insensitively, a "w"
        text = _WWW_URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub(_hashtag_words, text)
    if not _POSITIVE_EMOTICON_CHARS.isdisjoint(text):
        text = _POSITIVE_EMOTICONS.sub(_POSITIVE_REPLACEMENT, text)
    if not _NEGATIVE_EMOTICON_CHARS.isdisjoint(text):
        text = _NEGATIVE_EMOTICONS.sub(_NEGATIVE_REPLACEMENT, text)
    if not text.isascii():
        if not _EMOJI_CHARS.isdisjoint(text):
            text = emoji.replace_emoji(text, replace=_emoji_token)
        text = _MOJIBAKE.sub(" ", text)
        text = _fold_to_ascii(text)
    text = text.lower()
    if "\u2019" in text:
        text = text.replace("\u2019", "'")
    for needle, pattern, replacement in _NEGATED_CONTRACTIONS:
        if needle in text:
            text = pattern.sub(replacement, text)
    return _resolve_all(_TOKEN.findall(text))


def preprocess_to_text(text: str) -> str:
    """The same preprocessing, joined with spaces: the input of bag-of-words vectorizers and BERT."""
    return " ".join(preprocess(text))
