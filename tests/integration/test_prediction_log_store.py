"""The prediction log store on a real SQLite file and on a real PostgreSQL server the tests start themselves."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, insert, select

from shared.prediction_log import InvalidCursor, PredictionLog
from shared.prediction_log.airlines import detect_airline
from shared.prediction_log.export import csv_chunks, parquet_chunks
from shared.prediction_log.tables import PredictionRow, SentimentHourRow
from shared.schemas.prediction_log import FeedbackLogEntry, LoggedPredictionIn, PredictionFilters
from tests.conftest import fresh_postgres_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, no schema yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log' / 'predictions.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"), f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(log_url: str) -> Iterator[PredictionLog]:
    log = PredictionLog(log_url)
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


# --- the hourly rollup behind the sentiment trend ----------------------------------------------------------------

TEXTS = ["@united late again", "@Delta lost my bag", "thanks @SouthwestAir", "no airline in this one"]
Stat = tuple[datetime, str, int, int, int]


def raw_stats(store: PredictionLog, bucket: str, start: datetime, end: datetime, airline: str | None) -> list[Stat]:
    """What the trend must say, computed here from every row still logged."""
    totals: dict[tuple[datetime, str], list[int]] = {}
    for row in store.iter_export():
        if not start <= row.created_at < end or (airline is not None and row.airline != airline):
            continue
        moment = row.created_at.replace(minute=0, second=0, microsecond=0)
        if bucket == "day":
            moment = moment.replace(hour=0)
        counts = totals.setdefault((moment, row.model_version), [0, 0, 0])
        counts[0] += 1
        counts[1] += row.label == "positive"
        counts[2] += bool(row.is_misprediction)
    return sorted((moment, version, *counts) for (moment, version), counts in totals.items())  # type: ignore[misc]


def stats(store: PredictionLog, bucket: str, start: datetime, end: datetime, airline: str | None) -> list[Stat]:
    answer = store.sentiment_stats(bucket, start, end, airline=airline)  # type: ignore[arg-type]
    for b in answer:
        assert b.positive_share == b.positive / b.count and b.flag_rate == b.flagged / b.count
    return [(b.bucket_start, b.model_version, b.count, b.positive, b.flagged) for b in answer]


def rollup_table(store: PredictionLog) -> list[tuple[datetime, str, str, int, int, int]]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(SentimentHourRow.__table__).where(SentimentHourRow.count != 0)).all()
    return sorted((hour.replace(tzinfo=UTC), version, airline, *counts) for hour, version, airline, *counts in rows)


def rows_per_hour(store: PredictionLog) -> list[tuple[datetime, str, str, int, int, int]]:
    totals: dict[tuple[datetime, str, str], list[int]] = {}
    for row in store.iter_export():
        hour = row.created_at.replace(minute=0, second=0, microsecond=0)
        counts = totals.setdefault((hour, row.model_version, row.airline or ""), [0, 0, 0])
        counts[0] += 1
        counts[1] += row.label == "positive"
        counts[2] += bool(row.is_misprediction)
    return sorted((*key, *counts) for key, counts in totals.items())  # type: ignore[misc]


def assert_trend_matches_rows(store: PredictionLog, ranges: list[tuple[datetime, datetime]]) -> None:
    assert rollup_table(store) == rows_per_hour(store)
    for start, end in ranges:
        for bucket in ("hour", "day"):
            for airline in (None, "united", "delta"):
                expected = raw_stats(store, bucket, start, end, airline)
                assert stats(store, bucket, start, end, airline) == expected, (bucket, start, end, airline)


def test_the_trend_from_the_rollup_equals_the_rows_after_inserts_feedback_and_retention(store: PredictionLog) -> None:
    rng = random.Random(20261201)
    base = NOW - timedelta(days=2)

    def random_prediction(index: int, **overrides: object) -> LoggedPredictionIn:
        fields: dict[str, object] = {
            "text": f"{rng.choice(TEXTS)} {index}",
            "label": rng.choice(["positive", "negative"]),
            "model_version": rng.choice(["2", "3"]),
            "created_at": base + timedelta(seconds=rng.uniform(0, 3 * 86400)),
        }
        return prediction(index, **{**fields, **overrides})

    logged: list[LoggedPredictionIn] = []
    early: list[LoggedPredictionIn] = []  # known from their feedback first, as the Redis record held them
    for _ in range(6):
        batch = [random_prediction(len(logged) + k) for k in range(40)]
        redelivered = rng.sample(logged, min(len(logged), 15)) + batch[:3]
        # The own entries of the rows made from feedback arrive, logged at another time (another hour).
        arrived = [
            row.model_copy(update={"threshold": 0.4, "created_at": row.created_at + timedelta(hours=rng.randint(1, 5))})
            for row in early
        ]
        early = [
            random_prediction(len(logged) + 50_000 + k, threshold=None, caller=None) for k in range(rng.randint(1, 3))
        ]
        verdicts = [
            FeedbackLogEntry(
                prediction=rng.choice(logged + batch),
                # The row's own label confirms it, the other flags it; a later one of either flips it back.
                correct_label=rng.choice(["positive", "negative"]),
                analyst="alice",
                at=NOW + timedelta(minutes=rng.randint(0, 600)),  # in any order: an older verdict changes nothing
            )
            for _ in range(25)
        ]
        verdicts += [FeedbackLogEntry(prediction=row, correct_label="negative", analyst="bob", at=NOW) for row in early]
        store.write([*batch, *redelivered, *arrived], verdicts)
        logged += batch + arrived
        for row in rng.sample(logged, 5):
            store.record_feedback(row.prediction_id, rng.choice(["positive", "negative"]), "carol", NOW)
    # A cutoff inside an hour: the rows before it go, the rest of its hour stays.
    store.delete_older_than(2, now=NOW + timedelta(minutes=17, seconds=23))
    store.insert_many(rng.sample(logged, 30))  # redelivered after retention, deleted ones included
    assert_trend_matches_rows(
        store,
        [
            (base - timedelta(days=1), base + timedelta(days=4)),
            (base + timedelta(hours=5, minutes=17, seconds=23.5), base + timedelta(days=2, hours=7, minutes=41)),
            (NOW - timedelta(hours=30, minutes=3), NOW + timedelta(hours=2, seconds=1)),
            (base + timedelta(hours=10, minutes=5), base + timedelta(hours=10, minutes=50)),  # inside one hour
            (base + timedelta(hours=10, minutes=50), base + timedelta(hours=11, minutes=10)),  # across one boundary
        ],
    )


def test_full_hours_are_read_from_the_rollup_and_the_edges_from_the_rows(store: PredictionLog) -> None:
    rows = [prediction(i, created_at=NOW + timedelta(minutes=7 * i)) for i in range(30)]  # 12:00 to 15:23
    store.insert_many(rows)
    start, end = NOW + timedelta(minutes=30), NOW + timedelta(hours=3, minutes=10)  # 12:30 .. 15:10
    before = stats(store, "hour", start, end, None)
    assert before == raw_stats(store, "hour", start, end, None)
    with store.engine.begin() as connection:  # behind the store's back: the rollup does not see it
        connection.execute(delete(PredictionRow).where(PredictionRow.prediction_id.in_(["p0010", "p0026"])))
    after = stats(store, "hour", start, end, None)
    # p0010 (13:10) is in a full hour, counted from the rollup; p0026 (15:02) in the edge hour, read from the rows.
    assert sum(b[2] for b in before) - sum(b[2] for b in after) == 1
    assert [b for b in after if b[0] == NOW + timedelta(hours=1)] == [
        b for b in before if b[0] == NOW + timedelta(hours=1)
    ]


def test_the_migration_fills_the_rollup_from_the_rows_already_logged(log_url: str) -> None:
    log = PredictionLog(log_url)
    try:
        log.upgrade("0001")
        rng = random.Random(5)
        rows = []
        for index in range(300):
            text = f"{rng.choice(TEXTS)} {index}"
            label = rng.choice(["positive", "negative"])
            verdict = rng.choice([None, "positive", "negative"])
            rows.append(
                {
                    "prediction_id": f"m{index:04d}",
                    "text": text,
                    "label": label,
                    "probability_positive": 0.7 if label == "positive" else 0.2,
                    "threshold": 0.5,
                    "uncertainty": 0.2,
                    "model_name": "air-paradis-lstm",
                    "model_version": rng.choice(["4", "5"]),
                    "airline": detect_airline(text),
                    "created_at": (NOW - timedelta(seconds=rng.uniform(0, 2 * 86400))).replace(tzinfo=None),
                    "feedback_label": verdict,
                    "is_misprediction": None if verdict is None else verdict != label,
                }
            )
        with log.engine.begin() as connection:
            connection.execute(insert(PredictionRow), rows)
        log.upgrade()
        assert sum(row[3] for row in rollup_table(log)) == 300
        assert_trend_matches_rows(
            log, [(NOW - timedelta(days=3), NOW), (NOW - timedelta(hours=40, minutes=1), NOW - timedelta(minutes=59))]
        )
        # The backfilled hours are the ones the store's own writes add to (on SQLite, the same stored text).
        first = rows[0]
        log.insert_many(
            [
                prediction(
                    9999,
                    text=first["text"],
                    model_version=first["model_version"],
                    created_at=first["created_at"].replace(tzinfo=UTC, minute=0, second=1),
                )
            ]
        )
        assert rollup_table(log) == rows_per_hour(log)
    finally:
        log.close()
