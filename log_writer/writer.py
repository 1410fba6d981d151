"""Reads the prediction log stream as a consumer group and writes it to the database in batches, at least once.

A batch is whatever one read returns (up to LOG_BATCH_ENTRIES entries, each one worker read's predictions or one
feedback verdict). It is written in one transaction, idempotently (a prediction id already logged is skipped, a
verdict applied again changes nothing), and only then acknowledged and deleted from the stream, so the stream holds
just what is not committed yet. A writer that dies mid-batch leaves its entries pending: a live writer claims them
(XAUTOCLAIM) once they have been idle LOG_CLAIM_AFTER_S, and a restarted one reads its own pending entries first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from log_writer import metrics
from log_writer.settings import LogWriterSettings
from shared import redis_keys
from shared.consumer_groups import ensure_group, forget_gone_consumers
from shared.logging_setup import kv
from shared.prediction_log import PredictionLog
from shared.schemas.prediction_log import FeedbackLogEntry, LoggedPredictionIn

log = logging.getLogger(__name__)

STREAM = redis_keys.PREDICTION_LOG_STREAM
GROUP = redis_keys.PREDICTION_LOG_GROUP

_PREDICTIONS = TypeAdapter(list[LoggedPredictionIn])
Entry = tuple[bytes, dict | None]


@dataclass(frozen=True)
class Lag:
    """What the stream holds that the log does not yet: entries, and the age of the oldest one."""

    entries: int
    oldest_s: float


class LogWriter:
    def __init__(self, client: redis.Redis, store: PredictionLog, settings: LogWriterSettings, name: str) -> None:
        self._client = client
        self._store = store
        self._settings = settings
        self.name = name
        self._read_own_pending = True  # on start, and after a failed commit: what this consumer holds comes first
        self._next_claim = 0.0
        self._next_prune = 0.0
        self._next_lag = 0.0
        self._next_retention = 0.0
        self.committed_predictions = 0
        self.committed_verdicts = 0

    def ensure_group(self) -> None:
        ensure_group(self._client, STREAM, GROUP)

    def run(self, stop: threading.Event) -> None:
        self.ensure_group()
        while not stop.is_set():
            try:
                committed = self.step()
                self._housekeeping()
                if 0 < committed < self._settings.log_batch_entries:
                    # A short batch: let entries gather, so that one commit (and one fsync) carries many of them.
                    stop.wait(self._settings.log_batch_linger_ms / 1000)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis restarted empty: the stream and its group are gone
                    self.ensure_group()
                else:
                    log.exception("log stream error %s", kv(consumer=self.name))
                    stop.wait(0.5)
            except (redis.RedisError, OSError) as exc:
                log.warning("log stream unreachable %s", kv(consumer=self.name, error=exc.__class__.__name__))
                stop.wait(0.5)
            except SQLAlchemyError as exc:
                # The batch stays pending on this consumer and is written again on the next step.
                self._read_own_pending = True
                log.warning("log database write failed %s", kv(consumer=self.name, error=exc.__class__.__name__))
                stop.wait(1.0)
            self._gauge_backlog()
            self._touch_alive_file()

    def step(self) -> int:
        """One read and its commit; returns how many stream entries were committed."""
        entries = self._own_pending() or self._claim_orphans() or self._read_new()
        if not entries:
            return 0
        self._commit(entries)
        return len(entries)

    # --- reading ---------------------------------------------------------------------------------

    def _read(self, start_id: str, block_ms: int | None) -> list[Entry]:
        read = self._client.xreadgroup(
            GROUP, self.name, {STREAM: start_id}, count=self._settings.log_batch_entries, block=block_ms
        )
        return [entry for _stream, entries in read or [] for entry in entries]

    def _own_pending(self) -> list[Entry]:
        if not self._read_own_pending:
            return []
        entries = self._read("0", None)
        self._read_own_pending = bool(entries)
        return entries

    def _read_new(self) -> list[Entry]:
        return self._read(">", self._settings.log_read_block_ms)

    def _claim_orphans(self) -> list[Entry]:
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + min(1.0, self._settings.log_claim_after_s)
        claimed = self._client.xautoclaim(
            STREAM,
            GROUP,
            self.name,
            int(self._settings.log_claim_after_s * 1000),
            start_id="0-0",
            count=self._settings.log_batch_entries,
        )[1]
        if claimed:
            log.warning("claimed log entries left by a dead writer %s", kv(consumer=self.name, entries=len(claimed)))
            self._read_own_pending = True  # the rest of what it held follows on the next steps
        return claimed

    # --- writing ---------------------------------------------------------------------------------

    def _commit(self, entries: list[Entry]) -> None:
        predictions: list[LoggedPredictionIn] = []
        verdicts: list[FeedbackLogEntry] = []
        for entry_id, fields in entries:
            if not fields:  # trimmed from the stream while pending: nothing left to write
                continue
            try:
                if b"predictions" in fields:
                    predictions.extend(_PREDICTIONS.validate_json(fields[b"predictions"]))
                elif b"feedback" in fields:
                    verdicts.append(FeedbackLogEntry.model_validate_json(fields[b"feedback"]))
                else:
                    raise ValueError("neither predictions nor feedback")
            except (ValidationError, ValueError) as exc:
                log.error("unreadable log entry dropped %s", kv(entry=entry_id, error=str(exc)[:200]))
        started = time.perf_counter()
        try:
            inserted, applied = self._store.write(predictions, verdicts)
        except SQLAlchemyError:
            metrics.WRITE_FAILURES.inc()
            raise
        write_s = time.perf_counter() - started
        metrics.BATCH_WRITE_SECONDS.observe(write_s)
        entry_ids = [entry_id for entry_id, _ in entries]
        with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(STREAM, GROUP, *entry_ids)
            pipe.xdel(STREAM, *entry_ids)
            pipe.execute()
        self.committed_predictions += inserted
        self.committed_verdicts += applied
        metrics.BATCHES.inc()
        metrics.ROWS_WRITTEN.labels(kind="prediction").inc(inserted)
        metrics.ROWS_WRITTEN.labels(kind="feedback").inc(applied)
        log.debug(
            "log batch committed %s write_ms=%.1f",
            kv(entries=len(entries), predictions=len(predictions), inserted=inserted, verdicts=applied),
            write_s * 1000,
        )

    # --- housekeeping ----------------------------------------------------------------------------

    def lag(self) -> Lag:
        """Entries not yet committed (committed ones are deleted) and the age of the oldest."""
        with self._client.pipeline(transaction=False) as pipe:
            pipe.xlen(STREAM)
            pipe.xrange(STREAM, "-", "+", count=1)
            length, oldest = pipe.execute()
        length = int(length)
        oldest_s = 0.0
        if oldest:
            millis = int(oldest[0][0].split(b"-")[0])
            oldest_s = max(0.0, time.time() - millis / 1000)
        return Lag(entries=length, oldest_s=oldest_s)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + self._settings.log_lag_interval_s
            lag = self.lag()
            log.info(
                "log lag %s oldest_s=%.1f",
                kv(
                    consumer=self.name,
                    entries=lag.entries,
                    committed_predictions=self.committed_predictions,
                    committed_verdicts=self.committed_verdicts,
                ),
                lag.oldest_s,
            )
        if now >= self._next_prune:
            self._next_prune = now + 60
            forget_gone_consumers(self._client, STREAM, GROUP, keep=self.name)
        if self._settings.prediction_log_retention_days > 0 and now >= self._next_retention:
            self._next_retention = now + self._settings.prediction_log_retention_interval_s
            self.apply_retention()

    def apply_retention(self) -> int:
        """Deletes rows past PREDICTION_LOG_RETENTION_DAYS, exported first when PREDICTION_LOG_EXPORT_DIR is set."""
        days = self._settings.prediction_log_retention_days
        export_dir = self._settings.prediction_log_export_dir
        export_to = None
        if export_dir is not None:
            export_to = export_dir / f"predictions-before-{datetime.now(UTC):%Y-%m-%d}.csv"
        deleted = self._store.delete_older_than(days, export_to=export_to)
        metrics.RETENTION_ROWS.labels(action="deleted").inc(deleted)
        if export_to is not None:
            # Exported and deleted under the same cutoff: every deleted row was appended to the CSV first.
            metrics.RETENTION_ROWS.labels(action="exported").inc(deleted)
        if deleted:
            log.info("log retention %s", kv(deleted=deleted, days=days, exported_to=export_to))
        return deleted

    def _gauge_backlog(self) -> None:
        """After every loop, failed ones included: a backlog that grows while writes fail is what an alert sees."""
        with contextlib.suppress(redis.RedisError, OSError):
            lag = self.lag()
            metrics.ENTRIES_WAITING.set(lag.entries)
            metrics.OLDEST_ENTRY_AGE.set(lag.oldest_s)

    def _touch_alive_file(self) -> None:
        path = self._settings.log_writer_alive_file
        if path is not None:
            with contextlib.suppress(OSError):
                path.touch()
