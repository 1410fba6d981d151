"""One log format for every service, written off the logging thread: key=value context (request id, model version)
after the message, as text or as one JSON object a line for log collectors.

A log call only appends its record to an in-process buffer (a `QueueHandler` on a deque); one writer thread formats
and writes it, so a request never waits on formatting or on a slow stderr. The writer is woken once per burst, not
per record, and writes a burst's lines in one call: a thread switch per line (the GIL changing hands twice) cost more
than the line itself at an access line per request. `configure_logging` starts that thread and `stop_logging` (also
run at exit) writes what is still buffered before the process ends.

`queue_line` is the hottest paths' INFO line (the gateway's access line): it queues the message and its context as
they are, and the writer renders them as the formatter renders the record `logger.info("%s %s", message, context)`
would make, without the LogRecord or the handler chain, which cost more than the request's own work around them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from logging.handlers import QueueHandler
from typing import Literal, NamedTuple, TextIO

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
        return " ".join([f"{k}={v}" for k, v in self.items()])


def kv(**context: object) -> LogContext:
    return LogContext(context)


class TextFormatter(logging.Formatter):
    """`_FORMAT`, with the date and time of day rendered once per second instead of once per line (an access line
    per request made strftime a visible share of a busy gateway's CPU)."""

    def __init__(self) -> None:
        super().__init__(_FORMAT)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._time_of(record.created, record.msecs)

    def _time_of(self, created: float, msecs: float) -> str:
        second, rendered = self._second
        if int(created) != second:
            second = int(created)
            rendered = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(created))
            self._second = (second, rendered)  # one assignment: another formatting thread sees a matching pair
        return f"{rendered},{int(msecs):03d}"

    def format_line(self, line: Line) -> str:
        return _FORMAT % {
            "asctime": self._time_of(line.created, _msecs(line.created)),
            "levelname": "INFO",
            "name": line.logger,
            "message": f"{line.message} {line.context}",
        }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, service, pid, message, and the `kv()` context as fields."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = self._entry(record.created, record.msecs, record.levelname, record.name, record.process)
        entry["message"] = record.getMessage()
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, LogContext):
                _add_context(entry, arg)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        # ASCII-escaped: a newline or control character in a message can never start a forged line.
        return json.dumps(entry, default=str)

    def format_line(self, line: Line) -> str:
        entry = self._entry(line.created, _msecs(line.created), "INFO", line.logger, os.getpid())
        entry["message"] = f"{line.message} {line.context}"
        _add_context(entry, line.context)
        return json.dumps(entry, default=str)

    def _entry(self, created: float, msecs: float, level: str, logger: str, pid: int | None) -> dict[str, object]:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z",
            "level": level,
            "logger": logger,
        }
        if self.service:
            entry["service"] = self.service
        entry["pid"] = pid
        return entry


def _add_context(entry: dict[str, object], context: LogContext) -> None:
    for key, value in context.items():
        entry.setdefault(key, value if isinstance(value, int | float | bool) else str(value))


def _msecs(created: float) -> float:
    """As LogRecord computes its `msecs` from its `created`."""
    return int((created - int(created)) * 1000) + 0.0


class Line(NamedTuple):
    """An INFO line queued by `queue_line`: rendered by the writer as the record of `"%s %s", message, context`."""

    created: float
    logger: str
    message: str
    context: LogContext

    def to_record(self) -> logging.LogRecord:
        record = logging.getLogger(self.logger).makeRecord(
            self.logger, logging.INFO, "(unknown file)", 0, "%s %s", (self.message, self.context), None
        )
        record.created, record.msecs = self.created, _msecs(self.created)
        return record


def _as_record(item: logging.LogRecord | Line) -> logging.LogRecord:
    return item.to_record() if isinstance(item, Line) else item


class _DeferredQueueHandler(QueueHandler):
    """Queues the record as it is: the message is built (and `kv()` rendered) in the listener thread, not here.

    NOTE: arguments are rendered a moment later, so a log call must not pass an object it goes on mutating.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


# How long the writer lets a burst gather after its first record, and how many records wake it before that.
LINGER_S = 0.05
WAKE_AT_RECORDS = 1000


class _RecordBuffer:
    """Records waiting for the writer thread. Appending wakes the writer only for the first record of a burst (or
    past WAKE_AT_RECORDS), so most log calls cost a deque append and no thread switch. A warning or worse cuts the
    burst short: it may be the last line before the process dies."""

    def __init__(self) -> None:
        self.records: deque[logging.LogRecord | Line] = deque()
        self.wake = threading.Event()
        self.now = threading.Event()

    def put_nowait(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.levelno >= logging.WARNING:
            self.now.set()
            self.wake.set()
        else:
            self._wake_for_info()

    def put_line(self, line: Line) -> None:
        self.records.append(line)
        self._wake_for_info()

    def _wake_for_info(self) -> None:
        # A record that finds others waiting needs no wake: the writer drains until the buffer is empty.
        waiting = len(self.records)
        if waiting == 1 or waiting >= WAKE_AT_RECORDS:
            self.wake.set()

    def drain(self) -> list[logging.LogRecord | Line]:
        records, taken = self.records, []
        while records:
            taken.append(records.popleft())
        return taken


class _Writer(threading.Thread):
    """Formats and writes buffered records, a burst at a time, until stopped (then writes what is left)."""

    def __init__(self, buffer: _RecordBuffer, output: logging.StreamHandler) -> None:
        super().__init__(name="log-output", daemon=True)
        self.buffer = buffer
        self.output = output
        self.stopping = threading.Event()

    def run(self) -> None:
        buffer = self.buffer
        while not self.stopping.is_set():
            buffer.wake.wait()
            buffer.wake.clear()
            buffer.now.wait(LINGER_S)  # let the burst gather, unless a warning or the stop is waiting
            buffer.now.clear()
            self.write(buffer.drain())
        self.write(buffer.drain())

    def write(self, records: list[logging.LogRecord | Line]) -> None:
        if not records:
            return
        output, lines = self.output, []
        formatter: TextFormatter | JsonFormatter = output.formatter  # type: ignore[assignment]  # configure_logging's
        for record in records:
            try:
                if isinstance(record, Line):
                    lines.append(formatter.format_line(record) + output.terminator)
                else:
                    lines.append(output.format(record) + output.terminator)
            except Exception:
                output.handleError(_as_record(record))
        with output.lock:  # type: ignore[union-attr]  # the handler's lock, held as StreamHandler.emit holds it
            try:
                output.stream.write("".join(lines))
                output.flush()
            except Exception:
                output.handleError(_as_record(records[-1]))

    def stop(self) -> None:
        self.stopping.set()
        self.buffer.now.set()
        self.buffer.wake.set()
        self.join()


class _Pipeline:
    """The root logger's queue handler, the thread that drains its buffer, and the stream handler it writes to."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        self.output = logging.StreamHandler(stream)
        self.output.setFormatter(formatter)
        self.buffer = _RecordBuffer()
        self.handler = _DeferredQueueHandler(self.buffer)  # type: ignore[arg-type]  # a queue by its put_nowait
        self.writer: _Writer | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            if self.writer is None:
                self.writer = _Writer(self.buffer, self.output)
                self.writer.start()

    def stop(self) -> None:
        """Write every buffered record, then stop the thread; later records are written directly."""
        with self.lock:
            writer, self.writer = self.writer, None
        if writer is not None:
            writer.stop()
        with contextlib.suppress(ValueError, OSError):  # a stream already closed at exit has nothing left to flush
            self.output.flush()

    def restart_in_child(self) -> None:
        """After fork the writer thread is gone: a fresh buffer and thread, so a prefork pool's logs still appear."""
        self.lock = threading.Lock()
        self.writer = None
        self.buffer = _RecordBuffer()
        self.handler.queue = self.buffer  # type: ignore[assignment]
        self.start()


_pipeline: _Pipeline | None = None


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "text", service: str | None = None, stream: TextIO | None = None
) -> None:
    """Route the root logger through the queue and start its writer thread (again: only level and format change)."""
    global _pipeline
    # No format here names a source file, line or thread: skip the stack walk and the lookup every record would pay
    # (the logging HOWTO's "Optimization" switches).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logMultiprocessing = False
    formatter: logging.Formatter = JsonFormatter(service) if log_format == "json" else TextFormatter()
    root = logging.getLogger()
    root.setLevel(level)
    if _pipeline is not None:
        _pipeline.output.setFormatter(formatter)
        if stream is not None:
            output = _pipeline.output
            with output.lock:  # type: ignore[union-attr]
                with contextlib.suppress(ValueError, OSError):  # the old stream may be closed already
                    output.flush()
                output.stream = stream
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
    for record in _pipeline.buffer.drain():  # logged by another thread between the writer's last drain and the swap
        _pipeline.output.handle(_as_record(record))


def queue_line(logger: logging.Logger, message: str, context: LogContext) -> None:
    """`logger.info("%s %s", message, context)` for a line per request: the caller pays a level check and a deque
    append. The line goes to this module's output only (no other handler sees it), so where that output is not
    running, it is logged the ordinary way."""
    pipeline = _pipeline
    if not logger.isEnabledFor(logging.INFO):
        return
    if pipeline is None or pipeline.writer is None or pipeline.handler not in logging.root.handlers:
        logger.info("%s %s", message, context)
        return
    pipeline.buffer.put_line(Line(time.time(), logger.name, message, context))


def _restart_after_fork() -> None:
    if _pipeline is not None and _pipeline.handler in logging.getLogger().handlers:
        _pipeline.restart_in_child()
