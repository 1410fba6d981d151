"""Logged predictions as CSV or Parquet bytes, produced piece by piece so that an export never sits in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from shared.schemas.prediction_log import LoggedPrediction

COLUMNS = list(LoggedPrediction.model_fields)
_ROWS_PER_CHUNK = 2000


def _record(row: LoggedPrediction) -> dict[str, object]:
    return row.model_dump(mode="json")


def csv_chunks(rows: Iterable[LoggedPrediction], header: bool = True) -> Iterator[bytes]:
    """UTF-8 CSV, a header line then `_ROWS_PER_CHUNK` rows per chunk."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    pending = 0
    for row in rows:
        writer.writerow(_record(row))
        pending += 1
        if pending >= _ROWS_PER_CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if buffer.tell():
        yield buffer.getvalue().encode()


def parquet_chunks(rows: Iterable[LoggedPrediction]) -> Iterator[bytes]:
    """One Parquet file, a row group per `_ROWS_PER_CHUNK` rows, each yielded as soon as it is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("prediction_id", pa.string()),
            ("text", pa.string()),
            ("label", pa.string()),
            ("probability_positive", pa.float64()),
            ("threshold", pa.float64()),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("request_id", pa.string()),
            ("caller", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("airline", pa.string()),
            ("uncertainty", pa.float64()),
            ("feedback_label", pa.string()),
            ("feedback_by", pa.string()),
            ("feedback_at", pa.timestamp("us", tz="UTC")),
            ("is_misprediction", pa.bool_()),
        ]
    )
    sink = io.BytesIO()
    writer = pq.ParquetWriter(sink, schema)
    batch: list[dict[str, object]] = []

    def flush() -> bytes:
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        batch.clear()
        data = sink.getvalue()
        sink.seek(0)
        sink.truncate()
        return data

    for row in rows:
        batch.append(row.model_dump())
        if len(batch) >= _ROWS_PER_CHUNK:
            yield flush()
    if batch:
        yield flush()
    writer.close()
    yield sink.getvalue()


def append_csv(path: Path, rows: Iterable[LoggedPrediction]) -> int:
    """Appends rows to a CSV file (header written when the file is new); returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    counted = 0

    def counting() -> Iterator[LoggedPrediction]:
        nonlocal counted
        for row in rows:
            counted += 1
            yield row

    new = not path.exists() or path.stat().st_size == 0
    with path.open("ab") as handle:
        for chunk in csv_chunks(counting(), header=new):
            handle.write(chunk)
    return counted
