"""Reading uploaded CSVs and pasted lines into tweets the gateway accepts."""

from __future__ import annotations

import pytest

from ui.batch_input import BatchInputError, chunks, parse_csv, parse_lines


def test_a_text_column_is_read_and_other_columns_ignored() -> None:
    batch = parse_csv(b'id,text,airline\n1,great crew,delta\n2,"lost my bag, again",united\n')
    assert batch.texts == ["great crew", "lost my bag, again"]
    assert batch.rows == [2, 3]
    assert batch.skipped == []


def test_the_header_is_found_whatever_its_case() -> None:
    assert parse_csv(b"Text\nhello\n").texts == ["hello"]


def test_sentiment140_rows_have_no_header_and_text_last() -> None:
    data = (
        b'"0","1467810369","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","user1","my flight got cancelled"\n'
        b'"4","1467810672","Mon Apr 06 22:19:49 PDT 2009","NO_QUERY","user2","landed early, thanks!"\n'
    )
    batch = parse_csv(data)
    assert batch.texts == ["my flight got cancelled", "landed early, thanks!"]
    assert batch.rows == [1, 2]


def test_latin1_files_are_read() -> None:
    assert parse_csv("text\ncafé à bord\n".encode("latin-1")).texts == ["café à bord"]


def test_rows_the_gateway_would_refuse_are_left_out_with_the_reason() -> None:
    batch = parse_csv(("text\nfine\n   \n" + "x" * 1001 + "\n").encode())
    assert batch.texts == ["fine"]
    assert [(s.row, s.reason) for s in batch.skipped] == [
        (3, "text is empty or whitespace only: send the tweet's words"),
        (4, "text is 1001 characters long: send at most 1000"),
    ]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"a,b\n1,2\n", "`text` column"),
        (b"text\n  \n", "no tweet in the file could be sent"),
    ],
)
def test_unusable_files_say_what_to_upload(data: bytes, fragment: str) -> None:
    with pytest.raises(BatchInputError, match=fragment):
        parse_csv(data)


def test_too_many_rows_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(BatchInputError, match="more than 2 tweets"):
        parse_csv(b"text\na\nb\nc\n", max_rows=2)


def test_pasted_lines_skip_blank_ones() -> None:
    batch = parse_lines("first tweet\n\n  \nsecond tweet\n")
    assert batch.texts == ["first tweet", "second tweet"]
    assert batch.rows == [1, 4]
    with pytest.raises(BatchInputError, match="one per line"):
        parse_lines("\n \n")


def test_chunks_hold_at_most_the_size() -> None:
    assert [len(c) for c in chunks([str(i) for i in range(2500)], 1000)] == [1000, 1000, 500]
