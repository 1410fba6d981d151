"""PredictionLog: every answered prediction and its feedback in a SQL database (SQLite or PostgreSQL).

Who calls what:
- the log writer (log_writer/) calls `upgrade()` once, then `write(predictions, feedback)` per batch of stream
  entries and `delete_older_than(days)` for retention;
- the gateway calls `get` (feedback on a prediction Redis no longer holds), `query` (GET /predictions),
  `iter_export` (GET /predictions/export) and `sentiment_stats` (GET /stats/sentiment, read from the hourly rollup
  `sentiment_hourly` that every write keeps exact in its own transaction);
- training calls `feedback_rows(since)`: analysts' corrections and confirmations as labelled examples.
Rows come back as `shared.schemas.prediction_log.LoggedPrediction`; times are aware UTC on the way in and out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Float, bindparam, case, create_engine, delete, event, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from shared.logging_setup import kv
from shared.prediction_log.airlines import detect_airline
from shared.prediction_log.tables import PredictionRow, SentimentHourRow
from shared.schemas.prediction_log import (
    Bucket,
    FeedbackExample,
    FeedbackLogEntry,
    LoggedPrediction,
    LoggedPredictionIn,
    Order,
    PredictionFilters,
    SentimentBucket,
    as_utc,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_PAGE_SIZE = 500
# The threshold assumed for the uncertainty of a row first known from its feedback, until its own entry arrives.
_DEFAULT_THRESHOLD = 0.5
# Ids per `IN (...)` list: below SQLite's and PostgreSQL's bound-parameter limits.
_IDS_PER_QUERY = 1000
# Rows per INSERT statement: 12 bound values a row, far below SQLite's (32,766) and PostgreSQL's (65,535) limits.
_ROWS_PER_INSERT = 500
# The columns a prediction's own entry writes, as `_row_values` names them.
_INSERTED = (
    "prediction_id",
    "text",
    "label",
    "probability_positive",
    "threshold",
    "uncertainty",
    "model_name",
    "model_version",
    "request_id",
    "caller",
    "airline",
    "created_at",
)

# What one transaction adds to the rollup: (hour, model version, airline or '') -> [count, positive, flagged].
_Deltas = defaultdict[tuple[datetime, str, str], list[int]]


class InvalidCursor(ValueError):
    """A cursor this log did not hand out, or one handed out for another order."""


def database_url(url: str) -> str:
    """`url` with the driver this project ships: psycopg (v3) for PostgreSQL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _naive_utc(moment: datetime) -> datetime:
    return as_utc(moment).replace(tzinfo=None)


class PredictionLog:
    """The prediction log behind one SQLAlchemy engine; safe to share between threads."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = database_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(self.url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.dialect == "postgresql":
            # A bounded connect: a caller whose database is down gets an error in seconds, not after TCP's minutes.
            self.engine = create_engine(
                self.url, pool_size=pool_size, pool_pre_ping=True, connect_args={"connect_timeout": 5}
            )
        else:
            raise ValueError(f"PREDICTION_LOG_URL must be sqlite:///<path> or postgresql+psycopg://..., not {url!r}")

    def describe(self) -> str:
        """The URL without its password, for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # --- schema ----------------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        """Brings the schema to the newest migration (alembic upgrade head); safe to run on every start."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def ensure_schema(self) -> bool:
        """`upgrade()` for a reader (the gateway) that must start even when the database is down: False, with a
        warning logged, if it could not; the log writer upgrades it again when it starts."""
        try:
            self.upgrade()
            return True
        except Exception as exc:  # a database down or mid-migration by another process: the reader starts anyway
            log.warning("prediction log schema not checked %s", kv(database=self.describe(), error=repr(exc)[:200]))
            return False

    # --- writes (the log writer) -----------------------------------------------------------------

    def insert_many(self, rows: Iterable[LoggedPredictionIn]) -> int:
        """Inserts predictions, skipping ids already logged (at-least-once delivery); returns how many were new."""
        inserted, _ = self.write(rows, [])
        return inserted

    def record_feedback(
        self,
        prediction_id: str,
        label: str,
        analyst: str,
        at: datetime,
        prediction: LoggedPredictionIn | None = None,
    ) -> bool:
        """Sets an analyst's verdict on a logged prediction: its feedback label, who, when, and whether the
        prediction was wrong (a confirmation, label == the prediction's, is recorded too). Applying it again changes
        nothing; an older verdict never overwrites a newer one. With `prediction`, a row not yet logged is created
        from it. Returns whether a row holds the verdict now."""
        entry_prediction = prediction or LoggedPredictionIn(
            prediction_id=prediction_id,
            text="",
            label="positive",
            probability_positive=0.5,
            model_name="",
            model_version="",
            created_at=at,
        )
        entry = FeedbackLogEntry(prediction=entry_prediction, correct_label=label, analyst=analyst, at=at)
        _, applied = self.write([], [entry], create_missing=prediction is not None)
        return applied == 1

    def write(
        self,
        predictions: Iterable[LoggedPredictionIn],
        feedback: Sequence[FeedbackLogEntry],
        create_missing: bool = True,
    ) -> tuple[int, int]:
        """One transaction: inserts `predictions` (idempotent), then applies `feedback` in order.
        Returns (predictions newly inserted, verdicts that a row now holds)."""
        values = [_row_values(row) for row in predictions]
        applied = 0
        deltas: _Deltas = defaultdict(lambda: [0, 0, 0])
        with self.engine.begin() as connection:
            inserted = self._insert_predictions(connection, values, deltas) if values else 0
            for entry in feedback:
                if self._apply_verdict(connection, entry, deltas):
                    applied += 1
                elif create_missing:
                    self._insert_predictions(connection, [_row_values(entry.prediction)], deltas)
                    applied += int(self._apply_verdict(connection, entry, deltas))
            self._add_to_rollup(connection, deltas)
        return inserted, applied

    def _insert_predictions(self, connection: Any, values: list[dict[str, Any]], deltas: _Deltas) -> int:
        """Inserts the rows whose id is new and fills in those first made from their feedback; returns how many of
        either, having added each to `deltas`."""
        written = self._insert_new(connection, values)
        _count_inserted(deltas, values, written)
        # A row first made from its feedback takes its prediction's own fields when that entry arrives; any other
        # repeat of an id is a redelivery and changes nothing.
        fill_ins: dict[str, dict[str, Any]] = {}
        for row in values:
            if row["threshold"] is not None and row["prediction_id"] not in written:
                fill_ins.setdefault(row["prediction_id"], row)
        return len(written) + (self._fill_in(connection, fill_ins, deltas) if fill_ins else 0)

    def _insert_new(self, connection: Any, values: list[dict[str, Any]]) -> set[str]:
        """Inserts the rows of `values` whose id is not logged yet and returns those ids (RETURNING names exactly
        the rows written; rowcount is not reliable here). The statement goes to the driver as it is, many rows a
        statement: SQLAlchemy's own many-row path builds and converts each row's parameters in Python, a cost paid on
        every logged prediction (docs/serving.md measures it). Values are converted as the table's column types
        convert them (SQLite's driver takes `?` placeholders, psycopg `%s`)."""
        # One read's predictions share their time: each distinct value is converted once.
        converted: dict[str, dict[Any, Any]] = {name: {} for name, convert in self._insert_binds if convert}
        placeholder = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        written: set[str] = set()
        for start in range(0, len(values), _ROWS_PER_INSERT):
            chunk = values[start : start + _ROWS_PER_INSERT]
            parameters: list[Any] = []
            for row in chunk:
                for name, convert in self._insert_binds:
                    value = row[name]
                    if convert is not None and value is not None:
                        done = converted[name]
                        if value not in done:
                            done[value] = convert(value)
                        value = done[value]
                    parameters.append(value)
            statement = _insert_new_sql(placeholder, len(chunk))
            written.update(connection.exec_driver_sql(statement, tuple(parameters)).scalars())
        return written

    @functools.cached_property
    def _insert_binds(self) -> list[tuple[str, Any]]:
        """Each inserted column with the conversion its type applies for this driver (None: the value as it is)."""
        dialect = self.engine.dialect
        columns = PredictionRow.__table__.c
        binds = []
        for name in _INSERTED:
            convert = columns[name].type.dialect_impl(dialect).bind_processor(dialect)
            # SQLAlchemy's float conversion is the identity on the floats rows carry.
            binds.append((name, None if isinstance(columns[name].type, Float) else convert))
        return binds

    @staticmethod
    def _fill_in(connection: Any, fill_ins: dict[str, dict[str, Any]], deltas: _Deltas) -> int:
        """Gives rows made from their feedback (no threshold) their prediction's fields, moving each in the rollup
        from the hour it was counted in to its prediction's own."""
        ids = list(fill_ins)
        earlier = []
        for start in range(0, len(ids), _IDS_PER_QUERY):
            # Locked (PostgreSQL; SQLite's write lock is held since the insert) so that the hour read is the one
            # the update replaces.
            earlier += connection.execute(
                select(*_ROLLUP_COLUMNS)
                .where(PredictionRow.prediction_id.in_(ids[start : start + _IDS_PER_QUERY]))
                .where(PredictionRow.threshold.is_(None))
                .with_for_update()
            ).all()
        if not earlier:
            return 0
        connection.execute(
            update(PredictionRow)
            .where(PredictionRow.prediction_id == bindparam("filled_id"))
            .values({name: bindparam(f"filled_{name}") for name in _FILLED_IN}),
            [
                {
                    "filled_id": row.prediction_id,
                    **{f"filled_{name}": fill_ins[row.prediction_id][name] for name in _FILLED_IN},
                }
                for row in earlier
            ],
        )
        for row in earlier:
            _count(deltas, row, -1)
            _count(deltas, row, +1, created_at=fill_ins[row.prediction_id]["created_at"])
        return len(earlier)

    @staticmethod
    def _add_to_rollup(connection: Any, deltas: _Deltas) -> None:
        rows = [
            {"hour_start": hour, "model_version": version, "airline": airline, "count": c, "positive": p, "flagged": f}
            # Sorted: concurrent writers then lock the rollup's rows in one order, and never deadlock on them.
            for (hour, version, airline), (c, p, f) in sorted(deltas.items())
            if c or p or f
        ]
        if not rows:
            return
        statement = _dialect_insert(connection.dialect.name, SentimentHourRow)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[SentimentHourRow.hour_start, SentimentHourRow.model_version, SentimentHourRow.airline],
                set_={
                    name: getattr(SentimentHourRow, name) + getattr(statement.excluded, name)
                    for name in ("count", "positive", "flagged")
                },
            ),
            rows,
        )

    @staticmethod
    def _apply_verdict(connection: Any, entry: FeedbackLogEntry, deltas: _Deltas) -> bool:
        at = _naive_utc(entry.at)
        prediction_id = entry.prediction.prediction_id
        if connection.dialect.name == "postgresql":
            # Locks the row, so that the two check-and-set updates below see the same version of it (SQLite's
            # writer holds the whole database from the first update on).
            connection.execute(
                select(PredictionRow.prediction_id)
                .where(PredictionRow.prediction_id == prediction_id)
                .with_for_update()
            )
        wrong = PredictionRow.label != entry.correct_label
        verdict = (
            update(PredictionRow)
            .where(PredictionRow.prediction_id == prediction_id)
            .where(or_(PredictionRow.feedback_at.is_(None), PredictionRow.feedback_at <= at))
            .values(
                feedback_label=entry.correct_label, feedback_by=entry.analyst, feedback_at=at, is_misprediction=wrong
            )
        )
        was_flagged = func.coalesce(PredictionRow.is_misprediction, False)
        # A verdict that flips the flag says which way, and where the row is counted, in the statement that flips it.
        flipped = connection.execute(verdict.where(was_flagged != wrong).returning(*_ROLLUP_COLUMNS)).first()
        if flipped is not None:
            deltas[_rollup_key(flipped)][2] += 1 if flipped.is_misprediction else -1
            return True
        if connection.execute(verdict.where(was_flagged == wrong)).rowcount:
            return True
        # A newer verdict is already there: this one is applied, in the sense that the row holds the latest.
        exists = connection.execute(
            select(PredictionRow.prediction_id).where(PredictionRow.prediction_id == entry.prediction.prediction_id)
        ).first()
        return exists is not None

    def delete_older_than(self, days: float, export_to: Path | None = None, now: datetime | None = None) -> int:
        """Deletes rows logged more than `days` ago, after appending them to the CSV file `export_to` if given.
        Returns how many were deleted."""
        cutoff = _naive_utc(now or datetime.now(UTC)) - timedelta(days=days)
        if export_to is not None:
            from shared.prediction_log.export import append_csv

            filters = PredictionFilters(created_to=cutoff.replace(tzinfo=UTC))
            append_csv(export_to, self.iter_export(filters))
        first_kept_hour = _hour(cutoff)
        deltas: _Deltas = defaultdict(lambda: [0, 0, 0])
        with self.engine.begin() as connection:
            # Rollup hours wholly before the cutoff go with their rows, so that a range's stats stay those of the rows
            # still logged; the cutoff's own hour keeps its row, less the deleted predictions it counted.
            connection.execute(delete(SentimentHourRow).where(SentimentHourRow.hour_start < first_kept_hour))
            partial = connection.execute(
                delete(PredictionRow)
                .where(PredictionRow.created_at >= first_kept_hour, PredictionRow.created_at < cutoff)
                .returning(*_ROLLUP_COLUMNS)
            ).all()
            for row in partial:
                _count(deltas, row, -1)
            self._add_to_rollup(connection, deltas)
            result = connection.execute(delete(PredictionRow).where(PredictionRow.created_at < first_kept_hour))
        return max(result.rowcount, 0) + len(partial)

    # --- reads -----------------------------------------------------------------------------------

    def get(self, prediction_id: str) -> LoggedPrediction | None:
        with self.engine.connect() as connection:
            row = connection.execute(_select().where(PredictionRow.prediction_id == prediction_id)).mappings().first()
        return _logged(row) if row else None

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(PredictionRow)).scalar_one())

    def query(
        self,
        filters: PredictionFilters | None = None,
        order: Order = "newest",
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[LoggedPrediction], str | None]:
        """One page of logged predictions: newest first, or nearest the threshold first ("uncertainty"), and the
        opaque cursor of the next page (None on the last). InvalidCursor for a cursor of another order or log."""
        if order not in ("newest", "uncertainty"):
            raise ValueError(f"order must be 'newest' or 'uncertainty', not {order!r}")
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        # NOTE: SQLite would otherwise pick the model version's or the airline's index and sort every match (seconds
        # over a large log); walking the order's own index and filtering as it goes stops after one page.
        walk_order_index = self.dialect == "sqlite"
        statement = _select().where(*_conditions(filters or PredictionFilters(), walk_order_index))
        if order == "newest":
            keys = (PredictionRow.created_at, PredictionRow.prediction_id)
            statement = statement.order_by(PredictionRow.created_at.desc(), PredictionRow.prediction_id.desc())
        else:
            keys = (PredictionRow.uncertainty, PredictionRow.prediction_id)
            statement = statement.order_by(PredictionRow.uncertainty.asc(), PredictionRow.prediction_id.asc())

        if cursor is not None:
            after = _decode_cursor(cursor, order)
            position = tuple_(*keys)
            statement = statement.where(position < tuple_(*after) if order == "newest" else position > tuple_(*after))
        with self.engine.connect() as connection:
            rows = connection.execute(statement.limit(limit + 1)).mappings().all()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = _encode_cursor(order, rows[-1])
        return [_logged(row) for row in rows], next_cursor

    def iter_export(
        self, filters: PredictionFilters | None = None, batch_size: int = 2000
    ) -> Iterator[LoggedPrediction]:
        """Every row matching `filters`, oldest first, read in batches (never the whole range in memory)."""
        conditions = _conditions(filters or PredictionFilters())
        after: tuple[datetime, str] | None = None
        while True:
            statement = _select().where(*conditions)
            if after is not None:
                statement = statement.where(
                    tuple_(PredictionRow.created_at, PredictionRow.prediction_id) > tuple_(*after)
                )
            statement = statement.order_by(PredictionRow.created_at, PredictionRow.prediction_id).limit(batch_size)
            with self.engine.connect() as connection:
                rows = connection.execute(statement).mappings().all()
            yield from (_logged(row) for row in rows)
            if len(rows) < batch_size:
                return
            after = (rows[-1]["created_at"], rows[-1]["prediction_id"])

    def sentiment_stats(
        self, bucket: Bucket, created_from: datetime, created_to: datetime, airline: str | None = None
    ) -> list[SentimentBucket]:
        """Per time bucket (hour or day, UTC) and model version: predictions, positive share, flag rate. The hours
        wholly inside the range come from the rollup; the partial hours at its edges from the rows themselves."""
        if bucket not in ("hour", "day"):
            raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
        start, end = _naive_utc(created_from), _naive_utc(created_to)
        first_full, last_full = _hour(start + timedelta(hours=1) - timedelta.resolution), _hour(end)
        totals: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                # One snapshot for the rollup and the edges: the answer is the log as of one instant.
                connection.execution_options(isolation_level="REPEATABLE READ")
            edges = [(start, end)]
            if first_full < last_full:
                _add_buckets(totals, connection.execute(self._rollup_statement(bucket, first_full, last_full, airline)))
                edges = [(start, first_full), (last_full, end)]
            for edge_start, edge_end in edges:
                if edge_start < edge_end:
                    statement = self._scan_statement(bucket, edge_start, edge_end, airline)
                    _add_buckets(totals, connection.execute(statement))
        return _sentiment_buckets(totals)

    def scan_sentiment_stats(
        self, bucket: Bucket, created_from: datetime, created_to: datetime, airline: str | None = None
    ) -> list[SentimentBucket]:
        """`sentiment_stats` computed from the rows of the whole range, without the rollup (what it costs
        without one: the benchmark's comparison)."""
        totals: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        statement = self._scan_statement(bucket, _naive_utc(created_from), _naive_utc(created_to), airline)
        with self.engine.connect() as connection:
            _add_buckets(totals, connection.execute(statement))
        return _sentiment_buckets(totals)

    def _bucket_of(self, bucket: Bucket, moment: Any) -> Any:
        if self.dialect == "postgresql":
            return func.date_trunc(bucket, moment)
        return func.strftime("%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00", moment)

    def _scan_statement(self, bucket: Bucket, start: datetime, end: datetime, airline: str | None) -> Any:
        bucket_start = self._bucket_of(bucket, PredictionRow.created_at)
        positive = func.sum(case((PredictionRow.label == "positive", 1), else_=0))
        flagged = func.sum(case((PredictionRow.is_misprediction.is_(True), 1), else_=0))
        filters = PredictionFilters(created_from=start, created_to=end, airline=airline)
        return (
            select(bucket_start, PredictionRow.model_version, func.count(), positive, flagged)
            .where(*_conditions(filters))
            .group_by(bucket_start, PredictionRow.model_version)
        )

    def _rollup_statement(self, bucket: Bucket, start: datetime, end: datetime, airline: str | None) -> Any:
        hour = SentimentHourRow.hour_start
        bucket_start = hour if bucket == "hour" else self._bucket_of("day", hour)
        statement = select(
            bucket_start,
            SentimentHourRow.model_version,
            func.sum(SentimentHourRow.count),
            func.sum(SentimentHourRow.positive),
            func.sum(SentimentHourRow.flagged),
        ).where(hour >= start, hour < end)
        if airline is not None:
            statement = statement.where(SentimentHourRow.airline == airline.lower())
        return statement.group_by(bucket_start, SentimentHourRow.model_version)

    def feedback_rows(self, since: datetime | None = None) -> list[FeedbackExample]:
        """Analysts' verdicts as labelled examples, oldest first: corrections (is_misprediction) and confirmations."""
        statement = _select().where(PredictionRow.feedback_label.is_not(None))
        if since is not None:
            statement = statement.where(PredictionRow.feedback_at >= _naive_utc(since))
        statement = statement.order_by(PredictionRow.feedback_at, PredictionRow.prediction_id)
        with self.engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        return [
            FeedbackExample(
                prediction_id=row["prediction_id"],
                text=row["text"],
                label=row["feedback_label"],
                predicted_label=row["label"],
                is_misprediction=bool(row["is_misprediction"]),
                analyst=row["feedback_by"],
                at=as_utc(row["feedback_at"]),
            )
            for row in rows
            if row["text"]  # a verdict on a row whose prediction never arrived carries no tweet to learn from
        ]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the gateway's reads never wait for the writer's batch, nor the writer for a long export.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _row_values(row: LoggedPredictionIn) -> dict[str, Any]:
    threshold = row.threshold if row.threshold is not None else _DEFAULT_THRESHOLD
    return {
        "prediction_id": row.prediction_id,
        "text": row.text,
        "label": row.label,
        "probability_positive": row.probability_positive,
        "threshold": row.threshold,
        "uncertainty": abs(row.probability_positive - threshold),
        "model_name": row.model_name,
        "model_version": row.model_version,
        "request_id": row.request_id,
        "caller": row.caller,
        "airline": detect_airline(row.text),
        "created_at": _naive_utc(row.created_at),
    }


# What a prediction adds to the rollup, as the statements that write it return it.
_ROLLUP_COLUMNS = (
    PredictionRow.prediction_id,
    PredictionRow.created_at,
    PredictionRow.model_version,
    PredictionRow.airline,
    PredictionRow.label,
    PredictionRow.is_misprediction,
)
# The fields a row made from its feedback takes from its prediction's own entry.
_FILLED_IN = ("threshold", "uncertainty", "caller", "created_at", "request_id")


def _dialect_insert(dialect: str, table: Any) -> Any:
    """The dialect's own INSERT, which has ON CONFLICT (the generic one has not)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@functools.lru_cache(maxsize=64)
def _insert_new_sql(placeholder: str, rows: int) -> str:
    """INSERT of `rows` predictions that skips ids already logged and returns the ids it wrote."""
    row = "(" + ", ".join([placeholder] * len(_INSERTED)) + ")"
    columns = ", ".join(f'"{name}"' for name in _INSERTED)
    return (
        f'INSERT INTO "{PredictionRow.__tablename__}" ({columns}) VALUES {", ".join([row] * rows)} '
        'ON CONFLICT ("prediction_id") DO NOTHING RETURNING "prediction_id"'
    )


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _rollup_key(row: Any, created_at: datetime | None = None) -> tuple[datetime, str, str]:
    return _hour(created_at or row.created_at), row.model_version, row.airline or ""


def _count(deltas: _Deltas, row: Any, sign: int, created_at: datetime | None = None) -> None:
    """Adds (sign +1) or removes (-1) one prediction, returned as `_ROLLUP_COLUMNS`, to or from `deltas`; at
    `created_at` instead of its own time if given."""
    counts = deltas[_rollup_key(row, created_at)]
    counts[0] += sign
    counts[1] += sign * (row.label == "positive")
    counts[2] += sign * bool(row.is_misprediction)


def _count_inserted(deltas: _Deltas, values: Iterable[Mapping[str, Any]], written: set[str]) -> None:
    """Adds the rows of `values` whose id is in `written` to `deltas`, each id once (a redelivered entry can repeat
    one within a batch). A new row has no verdict yet, so it adds nothing flagged."""
    remaining = set(written)
    hours: dict[datetime, datetime] = {}  # one read's predictions share their time: truncate it once
    for row in values:
        if row["prediction_id"] not in remaining:
            continue
        remaining.discard(row["prediction_id"])
        created_at = row["created_at"]
        hour = hours.get(created_at)
        if hour is None:
            hour = hours[created_at] = _hour(created_at)
        counts = deltas[hour, row["model_version"], row["airline"] or ""]
        counts[0] += 1
        counts[1] += row["label"] == "positive"


def _add_buckets(totals: dict[tuple[datetime, str], list[int]], rows: Iterable[Any]) -> None:
    for bucket_start, model_version, count, positives, flags in rows:
        moment = bucket_start if isinstance(bucket_start, datetime) else datetime.fromisoformat(bucket_start)
        counts = totals[moment, model_version]
        counts[0] += int(count or 0)
        counts[1] += int(positives or 0)
        counts[2] += int(flags or 0)


def _sentiment_buckets(totals: Mapping[tuple[datetime, str], list[int]]) -> list[SentimentBucket]:
    return [
        SentimentBucket(
            bucket_start=as_utc(moment),
            model_version=model_version,
            count=count,
            positive=positives,
            positive_share=positives / count,
            flagged=flags,
            flag_rate=flags / count,
        )
        for (moment, model_version), (count, positives, flags) in sorted(totals.items())
        # An hour whose rows all moved or went keeps a rollup row of zeros: no bucket, as no rows give none.
        if count > 0
    ]


def _select() -> Any:
    return select(PredictionRow.__table__)


def _logged(row: Mapping[str, Any]) -> LoggedPrediction:
    return LoggedPrediction.model_validate(dict(row))


def _conditions(filters: PredictionFilters, unindexed_equalities: bool = False) -> list[Any]:
    """WHERE terms for `filters`; `unindexed_equalities` writes the model version and airline tests so that no index
    serves them (`column || ''`), leaving the planner the order's index."""

    def column(name: str) -> Any:
        plain = getattr(PredictionRow, name)
        return plain.concat("") if unindexed_equalities else plain

    conditions: list[Any] = []
    if filters.created_from is not None:
        conditions.append(PredictionRow.created_at >= _naive_utc(filters.created_from))
    if filters.created_to is not None:
        conditions.append(PredictionRow.created_at < _naive_utc(filters.created_to))
    if filters.label is not None:
        conditions.append(PredictionRow.label == filters.label)
    if filters.model_version is not None:
        conditions.append(column("model_version") == filters.model_version)
    if filters.flagged is True:
        conditions.append(PredictionRow.is_misprediction.is_(True))
    elif filters.flagged is False:
        conditions.append(or_(PredictionRow.is_misprediction.is_(None), PredictionRow.is_misprediction.is_(False)))
    if filters.airline is not None:
        conditions.append(column("airline") == filters.airline.lower())
    if filters.text_contains is not None:
        conditions.append(PredictionRow.text.icontains(filters.text_contains, autoescape=True))
    return conditions


def _encode_cursor(order: Order, row: Mapping[str, Any]) -> str:
    key: Any = row["created_at"].isoformat() if order == "newest" else row["uncertainty"]
    raw = json.dumps([order, key, row["prediction_id"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, order: Order) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_order, key, prediction_id = json.loads(raw)
        if cursor_order != order:
            raise InvalidCursor(f"this cursor belongs to order={cursor_order}: pass the same order as the first page")
        if not isinstance(prediction_id, str):
            raise TypeError
        if order == "newest":
            return datetime.fromisoformat(key), prediction_id
        return float(key), prediction_id
    except InvalidCursor:
        raise
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("unreadable cursor: pass the next_cursor of a previous page unchanged") from None
