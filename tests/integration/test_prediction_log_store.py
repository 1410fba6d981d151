"""The prediction log store on a real SQLite file and on a real PostgreSQL server the tests start themselves."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shared.prediction_log import InvalidCursor, PredictionLog
from shared.prediction_log.airlines import detect_airline
from shared.prediction_log.export import csv_chunks, parquet_chunks
from shared.schemas.prediction_log import FeedbackLogEntry, LoggedPredictionIn, PredictionFilters
from tests.conftest import fresh_postgres_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PredictionLog]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log' / 'predictions.db'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"), f"t_{uuid.uuid4().hex[:12]}")
    log = PredictionLog(url)
    log.upgrade()
    yield log
    log.close()


def prediction(index: int, **overrides: object) -> LoggedPredictionIn:
    values: dict[str, object] = {
        "prediction_id": f"p{index:04d}",
        "text": f"@united flight {index} was fine",
        "label": "positive" if index % 2 else "negative",
        "probability_positive": (index % 100) / 100,
        "threshold": 0.4,
        "model_name": "air-paradis-lstm",
        "model_version": "2" if index % 3 else "3",
        "request_id": f"req-{index}",
        "caller": "alice" if index % 4 == 0 else None,
        "created_at": NOW - timedelta(minutes=index),
    }
    values.update(overrides)
    return LoggedPredictionIn.model_validate(values)


def test_inserts_are_idempotent_on_the_prediction_id_and_upgrade_runs_twice(store: PredictionLog) -> None:
    rows = [prediction(i) for i in range(30)]
    assert store.insert_many(rows) == 30
    assert store.insert_many([*rows[:10], prediction(30)]) == 1  # a redelivered batch plus one new row
    store.upgrade()
    assert store.count() == 31
    got = store.get("p0004")
    assert got is not None and got.caller == "alice" and got.airline == "united" and got.request_id == "req-4"
    assert got.created_at == NOW - timedelta(minutes=4)
    assert got.uncertainty == pytest.approx(0.36)
    assert store.get("missing") is None


@pytest.mark.parametrize("order", ["newest", "uncertainty"])
def test_pages_cover_every_row_once_in_order(store: PredictionLog, order: str) -> None:
    # Ties on the sort key (same time, same distance to the threshold) must still page without loss or repeat.
    rows = [
        prediction(i, created_at=NOW - timedelta(minutes=i // 3), probability_positive=(i // 4) / 50) for i in range(57)
    ]
    store.insert_many(rows)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page, cursor = store.query(order=order, cursor=cursor, limit=10)  # type: ignore[arg-type]
        seen += [row.prediction_id for row in page]
        pages += 1
        if cursor is None:
            break
    assert pages == 6 and sorted(seen) == sorted(row.prediction_id for row in rows) and len(set(seen)) == 57
    by_id = {row.prediction_id: row for row in rows}
    if order == "newest":
        keys = [(by_id[i].created_at, i) for i in seen]
        assert keys == sorted(keys, reverse=True)
    else:
        keys = [(round(abs(by_id[i].probability_positive - 0.4), 9), i) for i in seen]
        assert keys == sorted(keys)


def test_a_cursor_of_another_order_or_made_up_is_refused(store: PredictionLog) -> None:
    store.insert_many([prediction(i) for i in range(5)])
    _, cursor = store.query(order="newest", limit=2)
    assert cursor is not None
    with pytest.raises(InvalidCursor, match="order=newest"):
        store.query(order="uncertainty", cursor=cursor)
    with pytest.raises(InvalidCursor, match="unreadable cursor"):
        store.query(cursor="not-a-cursor")
    with pytest.raises(ValueError, match="limit"):
        store.query(limit=0)


def test_filters_narrow_the_queue(store: PredictionLog) -> None:
    rows = [prediction(i) for i in range(40)]
    rows.append(prediction(40, text="Thanks @AmericanAir, 100% on time_ again"))
    store.insert_many(rows)
    store.record_feedback("p0007", "negative", "bob", NOW)

    def ids(**filters: object) -> set[str]:
        page, _ = store.query(PredictionFilters.model_validate(filters), limit=500)
        return {row.prediction_id for row in page}

    window = ids(created_from=NOW - timedelta(minutes=10), created_to=NOW - timedelta(minutes=5))
    assert window == {f"p{i:04d}" for i in range(6, 11)}
    assert ids(label="positive") == {r.prediction_id for r in rows if r.label == "positive"}
    assert ids(model_version="3") == {r.prediction_id for r in rows if r.model_version == "3"}
    assert ids(flagged=True) == {"p0007"}
    assert len(ids(flagged=False)) == 40
    assert ids(airline="american") == {"p0040"}
    assert ids(airline="United") == {f"p{i:04d}" for i in range(40)}
    # LIKE wildcards in the search are literal characters; case does not matter.
    assert ids(text_contains="100% ON TIME_") == {"p0040"}
    assert ids(text_contains="%") == {"p0040"}
    assert ids(text_contains="FLIGHT 12 ") == {"p0012"}


def test_a_verdict_is_stored_once_per_prediction_and_a_confirmation_counts(store: PredictionLog) -> None:
    store.insert_many([prediction(1), prediction(2)])
    assert store.record_feedback("p0001", "negative", "alice", NOW)  # p0001 is positive: a correction
    assert store.record_feedback("p0001", "negative", "alice", NOW)  # the same verdict again changes nothing
    assert store.record_feedback("p0002", "negative", "bob", NOW + timedelta(seconds=1))  # a confirmation
    corrected, confirmed = store.get("p0001"), store.get("p0002")
    assert corrected is not None and confirmed is not None
    assert (corrected.feedback_label, corrected.feedback_by, corrected.is_misprediction) == ("negative", "alice", True)
    assert (confirmed.feedback_label, confirmed.feedback_by, confirmed.is_misprediction) == ("negative", "bob", False)
    # A verdict older than the one stored (a redelivered entry) does not overwrite it.
    store.record_feedback("p0001", "positive", "carol", NOW - timedelta(hours=1))
    assert store.get("p0001").feedback_by == "alice"  # type: ignore[union-attr]
    assert not store.record_feedback("never-logged", "positive", "alice", NOW)
    examples = store.feedback_rows()
    assert [(e.prediction_id, e.label, e.is_misprediction, e.analyst) for e in examples] == [
        ("p0001", "negative", True, "alice"),
        ("p0002", "negative", False, "bob"),
    ]
    assert [e.prediction_id for e in store.feedback_rows(since=NOW + timedelta(milliseconds=500))] == ["p0002"]


def test_a_verdict_applied_before_its_prediction_keeps_both(store: PredictionLog) -> None:
    # As feedback found it in Redis: no threshold, no caller.
    early = prediction(5, threshold=None, caller=None, created_at=NOW + timedelta(minutes=1))
    verdict = FeedbackLogEntry(
        prediction=early, correct_label="negative", analyst="alice", at=NOW + timedelta(minutes=2)
    )
    assert store.write([], [verdict]) == (0, 1)
    row = store.get("p0005")
    assert row is not None and row.is_misprediction is True and row.threshold is None
    # The prediction's own entry arrives later: its fields fill in, the verdict stays.
    store.insert_many([prediction(5)])
    row = store.get("p0005")
    assert row is not None
    assert (row.threshold, row.caller, row.created_at) == (0.4, None, NOW - timedelta(minutes=5))
    assert (row.feedback_label, row.feedback_by, row.is_misprediction) == ("negative", "alice", True)
    assert store.count() == 1


def test_sentiment_stats_per_bucket_and_model_version(store: PredictionLog) -> None:
    rows = [prediction(i, created_at=NOW + timedelta(minutes=20 * i)) for i in range(9)]  # 3 hours, 3 per hour
    rows.append(prediction(9, text="@Delta lost my bag", created_at=NOW + timedelta(minutes=5)))
    store.insert_many(rows)
    store.record_feedback("p0001", "negative", "alice", NOW)
    hourly = store.sentiment_stats("hour", NOW, NOW + timedelta(hours=3))
    per_key = {(b.bucket_start, b.model_version): b for b in hourly}
    first = per_key[(NOW, "2")]
    # Hour 0 holds p0000 (v3, negative), p0001 (v2, positive, flagged), p0002 (v2, negative), p0009 (v3, positive).
    assert (first.count, first.positive, first.flagged) == (2, 1, 1)
    assert first.positive_share == 0.5 and first.flag_rate == 0.5
    assert per_key[(NOW, "3")].count == 2
    assert sum(b.count for b in hourly) == 10
    daily = store.sentiment_stats("day", NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert {b.bucket_start for b in daily} == {NOW.replace(hour=0)}
    delta = store.sentiment_stats("day", NOW - timedelta(days=1), NOW + timedelta(days=1), airline="delta")
    assert [(b.count, b.model_version) for b in delta] == [(1, "3")]


def test_exports_stream_every_row_as_csv_and_parquet(store: PredictionLog) -> None:
    store.insert_many([prediction(i) for i in range(2500)])
    rows = store.iter_export(PredictionFilters(created_from=NOW - timedelta(minutes=2099)), batch_size=700)
    chunks = list(csv_chunks(rows))
    assert len(chunks) >= 2  # streamed in pieces, not one string
    table = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(table) == 2100 and table[0]["prediction_id"] == "p2099" and table[-1]["prediction_id"] == "p0000"
    parquet = b"".join(parquet_chunks(store.iter_export()))
    read = pq.read_table(io.BytesIO(parquet))
    assert read.num_rows == 2500 and set(read.column("airline").to_pylist()) == {"united"}


def test_retention_deletes_old_rows_after_exporting_them(store: PredictionLog, tmp_path: Path) -> None:
    store.insert_many([prediction(i, created_at=NOW - timedelta(days=i)) for i in range(10)])
    export = tmp_path / "retention" / "old.csv"
    assert store.delete_older_than(7, export_to=export, now=NOW + timedelta(hours=1)) == 3
    assert store.count() == 7
    exported = list(csv.DictReader(export.open()))
    assert sorted(r["prediction_id"] for r in exported) == ["p0007", "p0008", "p0009"]
    assert store.delete_older_than(7, export_to=export, now=NOW + timedelta(hours=1)) == 0
    assert len(list(csv.DictReader(export.open()))) == 3  # appended to, never a second header


@pytest.mark.parametrize(
    ("text", "airline"),
    [
        ("@united why is my flight late", "united"),
        ("Flying United tomorrow", "united"),
        ("we united the team", None),
        ("@AmericanAir and @united both lost bags", "american"),
        ("Air Paradis was great, thanks @AirParadis", "airparadis"),
        ("loved my Southwest flight", "southwest"),
        ("no airline here", None),
    ],
)
def test_airline_is_detected_from_handle_or_name(text: str, airline: str | None) -> None:
    assert detect_airline(text) == airline
