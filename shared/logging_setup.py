"""One log format for every service, written off the logging thread: key=value context (request id, model version)
after the message, as text or as one JSON object a line for log collectors.

A log call only puts its record on an in-process queue (`QueueHandler`); one `QueueListener` thread formats and
writes it, so a request never waits on formatting or on a slow stderr. `configure_logging` starts that thread and
`stop_logging` (also run at exit) writes what is still queued before the process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
from logging.handlers import QueueHandler, QueueListener
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_NOISY = ("urllib3", "httpx", "alembic", "botocore", "matplotlib", "h5py", "absl", "gensim")


class LogContext:
    """`key=value` pairs for a log line, rendered only when the line is emitted (hot paths log below the level)."""

    __slots__ = ("_context",)

    def __init__(self, context: dict[str, object]) -> None:
        self._context = context

    def items(self) -> list[tuple[str, object]]:
        return [(k, v) for k, v in self._context.items() if v is not None]

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.items())


def kv(**context: object) -> LogContext:
    return LogContext(context)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, service, pid, message, and the `kv()` context as fields."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        if self.service:
            entry["service"] = self.service
        entry["pid"] = record.process
        entry["message"] = record.getMessage()
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, LogContext):
                for key, value in arg.items():
                    entry.setdefault(key, value if isinstance(value, int | float | bool) else str(value))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        # ASCII-escaped: a newline or control character in a message can never start a forged line.
        return json.dumps(entry, default=str)


class _DeferredQueueHandler(QueueHandler):
    """Queues the record as it is: the message is built (and `kv()` rendered) in the listener thread, not here.

    NOTE: arguments are rendered a moment later, so a log call must not pass an object it goes on mutating.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class _Pipeline:
    """The root logger's queue handler, the thread that drains it, and the stream handler that thread writes to."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        self.output = logging.StreamHandler(stream)
        self.output.setFormatter(formatter)
        self.queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.handler = _DeferredQueueHandler(self.queue)
        self.listener: QueueListener | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            if self.listener is None:
                self.listener = QueueListener(self.queue, self.output)
                self.listener.start()

    def stop(self) -> None:
        """Write every queued record, then stop the thread; later records are written directly."""
        with self.lock:
            listener, self.listener = self.listener, None
        if listener is not None:
            listener.stop()
        with contextlib.suppress(ValueError, OSError):  # a stream already closed at exit has nothing left to flush
            self.output.flush()

    def restart_in_child(self) -> None:
        """After fork the listener thread is gone: a fresh queue and thread, so a prefork pool's logs still appear."""
        self.lock = threading.Lock()
        self.listener = None
        self.queue = queue.SimpleQueue()
        self.handler.queue = self.queue
        self.start()


_pipeline: _Pipeline | None = None


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "text", service: str | None = None, stream: TextIO | None = None
) -> None:
    """Route the root logger through the queue and start its writer thread (again: only level and format change)."""
    global _pipeline
    formatter: logging.Formatter = JsonFormatter(service) if log_format == "json" else logging.Formatter(_FORMAT)
    root = logging.getLogger()
    root.setLevel(level)
    if _pipeline is not None:
        _pipeline.output.setFormatter(formatter)
        if stream is not None:
            _pipeline.output.setStream(stream)
        if _pipeline.output in root.handlers:  # stopped earlier: back through the queue
            root.removeHandler(_pipeline.output)
        if _pipeline.handler not in root.handlers:
            root.addHandler(_pipeline.handler)
        _pipeline.start()
        return
    _pipeline = _Pipeline(stream or sys.stderr, formatter)
    root.addHandler(_pipeline.handler)
    _pipeline.start()
    atexit.register(stop_logging)
    os.register_at_fork(after_in_child=_restart_after_fork)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def stop_logging() -> None:
    """Write what is still queued and stop the writer thread (records logged afterwards are written directly)."""
    if _pipeline is None:
        return
    _pipeline.stop()
    root = logging.getLogger()
    # With no thread left to drain the queue, the stream handler takes over so that no later line is lost.
    if _pipeline.handler in root.handlers:
        root.removeHandler(_pipeline.handler)
        root.addHandler(_pipeline.output)


def _restart_after_fork() -> None:
    if _pipeline is not None and _pipeline.handler in logging.getLogger().handlers:
        _pipeline.restart_in_child()
