"""The loader: bundled corpus (all and airline subset), Sentiment140 CSVs, plain text,label CSVs, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_worker.datasets import BUNDLED, BUNDLED_AIRLINE, DatasetError, load_dataset


def test_bundled_corpus_keeps_only_positive_and_negative_deduplicated() -> None:
    dataset = load_dataset(BUNDLED)
    assert 20_000 < len(dataset) < 38_158  # neutral rows and duplicates are gone
    assert set(dataset.labels) == {0, 1}
    lowered = [t.strip().lower() for t in dataset.texts]
    assert len(lowered) == len(set(lowered))


def test_airline_subset_is_the_airline_tweets() -> None:
    airline = load_dataset(BUNDLED_AIRLINE)
    assert 10_000 < len(airline) < len(load_dataset(BUNDLED))
    assert all("@" in text for text in airline.texts[:200])


def test_sample_is_seeded_and_named() -> None:
    first, second = load_dataset(BUNDLED, limit=300), load_dataset(BUNDLED, limit=300)
    assert len(first) == 300
    assert first.texts == second.texts
    assert first.content_hash() == second.content_hash()
    assert "sample=300" in first.name


def test_sentiment140_format(tmp_path: Path) -> None:
    path = tmp_path / "s140.csv"
    path.write_text(
        '"0","1467810369","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","user1","my flight got cancelled"\n'
        '"4","1467810672","Mon Apr 06 22:19:49 PDT 2009","NO_QUERY","user2","great crew today"\n'
        '"2","1467810673","Mon Apr 06 22:19:50 PDT 2009","NO_QUERY","user3","it is a plane"\n',
        encoding="latin-1",
    )
    dataset = load_dataset(str(path), data_dir=tmp_path)
    assert dataset.texts == ["my flight got cancelled", "great crew today"]
    assert dataset.labels == [0, 1]


def test_plain_text_label_csv_with_words_or_numbers(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("text,label\nlovely flight,positive\nlost my bag,negative\nok,1\nbad,0\n", encoding="utf-8")
    dataset = load_dataset(str(path), data_dir=tmp_path)
    assert dataset.labels == [1, 0, 1, 0]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "empty"),
        ("a,b\n1,2\n", "unrecognised columns"),
        ("text,label\nhello,maybe\n", "line 2"),
        ("text,label\nhello,positive\nbye,positive\n", "same label"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path), data_dir=tmp_path)
    assert str(path) in str(error.value)
    assert fragment in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(str(tmp_path / "nope.csv"), data_dir=tmp_path)
