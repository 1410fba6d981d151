"""Limits and helpers every message schema shares."""

from __future__ import annotations

import os
import time
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


def new_time_ordered_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: the Unix time in ms, then the sub-millisecond fraction (the RFC's
    method 3), then 62 random bits. Ids made later sort later, so a database index on them (the prediction log's
    primary key) grows at its right edge instead of rewriting pages all over the tree on every insert. Its first
    characters are the time: a shortened form of it must keep the end, not the start."""
    nanoseconds = time.time_ns()
    millis, within = divmod(nanoseconds, 1_000_000)
    fraction = within * 4096 // 1_000_000  # 12 bits
    random_bits = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | fraction << 64 | 0b10 << 62 | random_bits
    return f"{value:032x}"


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
