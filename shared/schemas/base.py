"""Limits and helpers every message schema shares."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

SCHEMA_VERSION = 1


MAX_TEXT_CHARS = 1000


MAX_BATCH_TEXTS = 1000


Label = Literal["positive", "negative"]


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_tweet_text(value: str) -> str:
    if not value.strip():
        raise ValueError("text is empty or whitespace only: send the tweet's words")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"text is {len(value)} characters long: send at most {MAX_TEXT_CHARS}")
    if "\x00" in value:
        raise ValueError("text contains a NUL character: remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON's \ud83d escapes decode to lone surrogates: valid JSON, but no UTF-8 text nor any tweet.
        raise ValueError("text has a lone surrogate (\\ud800-\\udfff escape): send valid Unicode") from None
    return value


TweetText = Annotated[str, StringConstraints(strict=True)]
