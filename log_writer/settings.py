"""Log writer settings, from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from shared.settings import ServiceSettings


class LogWriterSettings(ServiceSettings):
    service_name: str = "log-writer"
    # Stream entries read at most per batch; each holds one worker read's predictions (up to a few hundred tweets).
    log_batch_entries: int = Field(200, ge=1)
    # After a batch shorter than log_batch_entries, the writer waits this long before reading again.
    log_batch_linger_ms: int = Field(200, ge=0, le=5000)
    # How long one read waits for entries when the stream is empty.
    log_read_block_ms: int = Field(1000, ge=10)
    # Entries a writer read but never committed (it died) are taken over by a live one once pending this long.
    log_claim_after_s: float = Field(30.0, gt=0)
    # How often the writer logs its lag (entries waiting, age of the oldest).
    log_lag_interval_s: float = Field(30.0, gt=0)
    # Retention: rows logged more than this many days ago are deleted (0: kept forever), checked every interval.
    prediction_log_retention_days: float = Field(90.0, ge=0)
    prediction_log_retention_interval_s: float = Field(3600.0, gt=0)
    # When set, rows past retention are first appended to `predictions-before-<date>.csv` in this folder.
    prediction_log_export_dir: Path | None = None
    # Prometheus /metrics of this process (rows written, batches, failed writes, backlog, retention); 0 = none.
    metrics_port: int = Field(0, ge=0, le=65535)
    # The writer's nice value (0-19), and its session's when it leads one (shared/cpu_priority.py): the log can lag a
    # little behind a busy machine, the answers cannot; 0 keeps the scheduler's default.
    log_writer_nice: int = Field(10, ge=0, le=19)
    # A file touched after every loop: the container's health check reads its age.
    log_writer_alive_file: Path | None = None


@lru_cache
def get_settings() -> LogWriterSettings:
    return LogWriterSettings()
