"""Turning an uploaded CSV or pasted lines into tweets the gateway accepts, and naming the rows it would refuse."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from shared.schemas.api import PredictRequest

SENTIMENT140_COLUMNS = 6  # target,id,date,flag,user,text with no header
SENTIMENT140_TEXT_AT = 5


class BatchInputError(ValueError):
    """A file that cannot be read as tweets; the message says what the file should look like."""


@dataclass
class SkippedRow:
    row: int
    reason: str


@dataclass
class BatchInput:
    """The tweets to score, in order, with the source row each came from; and the rows left out, with why."""

    texts: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # Sentiment140's own file is latin-1


def _refusal(text: str) -> str | None:
    """The gateway's own validation, run here so one bad row does not make it refuse a whole chunk."""
    try:
        PredictRequest(text=text)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


def _collect(rows: Iterator[tuple[int, str]], max_rows: int) -> BatchInput:
    batch = BatchInput()
    for row, text in rows:
        reason = _refusal(text)
        if reason:
            batch.skipped.append(SkippedRow(row, reason))
            continue
        if len(batch.texts) >= max_rows:
            raise BatchInputError(f"more than {max_rows} tweets: split the file and send the parts one by one")
        batch.texts.append(text)
        batch.rows.append(row)
    return batch


def parse_csv(data: bytes, max_rows: int = 100_000) -> BatchInput:
    """A CSV with a `text` column (any other columns ignored), or Sentiment140's six headerless columns."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    first = next(reader, None)
    if first is None:
        raise BatchInputError("the file is empty: upload a CSV with a `text` column")
    header = [cell.strip().lower() for cell in first]

    def rows(text_at: int, start_line: int, include_first: bool) -> Iterator[tuple[int, str]]:
        if include_first:
            yield start_line, first[text_at]
            start_line += 1
        for line, cells in enumerate(reader, start=start_line):
            if not cells:
                continue
            yield line, cells[text_at] if len(cells) > text_at else ""

    if "text" in header:
        batch = _collect(rows(header.index("text"), 2, include_first=False), max_rows)
    elif len(first) == SENTIMENT140_COLUMNS:
        batch = _collect(rows(SENTIMENT140_TEXT_AT, 1, include_first=True), max_rows)
    else:
        raise BatchInputError(
            f"unrecognised columns {first[:6]!r}: give the file a header row with a `text` column, "
            "or use Sentiment140's six columns (target,id,date,flag,user,text)"
        )
    if not batch.texts:
        raise BatchInputError("no tweet in the file could be sent: " + _first_reasons(batch))
    return batch


def parse_lines(pasted: str, max_rows: int = 100_000) -> BatchInput:
    """One tweet per line; blank lines are separators, not tweets."""
    lines = ((number, line) for number, line in enumerate(pasted.splitlines(), start=1) if line.strip())
    batch = _collect(lines, max_rows)
    if not batch.texts:
        raise BatchInputError("paste at least one tweet, one per line")
    return batch


def chunks(texts: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


def _first_reasons(batch: BatchInput) -> str:
    return "; ".join(f"row {s.row}: {s.reason}" for s in batch.skipped[:3]) or "no rows"
