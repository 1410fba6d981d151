"""Logging off the caller's thread: a log call queues its record, one writer thread builds and writes the line, text
or JSON, and stopping writes everything still queued (after a fork too). `queue_line` queues no record at all and is
written as the record it stands for would be."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from logging.handlers import QueueHandler
from pathlib import Path
from typing import TextIO

import pytest

from shared.logging_setup import (
    _FORMAT,
    JsonFormatter,
    Line,
    LogFormat,
    TextFormatter,
    configure_logging,
    kv,
    queue_line,
    stop_logging,
)

log = logging.getLogger("tests.logging_setup")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    yield
    stop_logging()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in before:
        root.addHandler(handler)
    root.setLevel(level)


def _configure(level: str, log_format: LogFormat, stream: TextIO, service: str | None = None) -> None:
    """The pipeline alone on the root logger: pytest's capture handlers would render lines in the caller's thread."""
    configure_logging(level, log_format, service=service, stream=stream)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, QueueHandler):
            root.removeHandler(handler)


class _RenderedWhere:
    """Records which thread turns it into text."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __str__(self) -> str:
        self.threads.append(threading.current_thread().name)
        return "rendered"


def test_a_log_call_only_queues_the_line_is_built_and_written_by_another_thread(restore_logging: None) -> None:
    stream = io.StringIO()
    _configure("INFO", "text", stream)
    probe = _RenderedWhere()
    log.info("request done %s", probe)
    stop_logging()
    assert "request done rendered" in stream.getvalue()
    assert probe.threads and threading.current_thread().name not in probe.threads


def test_stopping_writes_every_queued_line_and_later_lines_still_appear(restore_logging: None) -> None:
    stream = io.StringIO()
    _configure("INFO", "text", stream)
    for index in range(5000):
        log.info("line %s", kv(index=index))
    stop_logging()
    lines = stream.getvalue().splitlines()
    assert [line.rsplit("=", 1)[1] for line in lines] == [str(i) for i in range(5000)]
    log.warning("after the writer thread stopped")
    assert stream.getvalue().splitlines()[-1].endswith("after the writer thread stopped")


def test_json_lines_carry_the_context_as_fields_and_never_split(restore_logging: None) -> None:
    stream = io.StringIO()
    _configure("INFO", "json", stream, service="gateway")
    log.info("%s %s", "GET /predict", kv(route="/predict", status=200, request_id="abc", ms=1.5, missing=None))
    log.warning('forged?\n{"level": "ERROR"} %s', kv(model_version="3"))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed %s", kv(job_id="j1"))
    stop_logging()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    access, forged, failed = (json.loads(line) for line in lines)
    assert access["message"] == "GET /predict route=/predict status=200 request_id=abc ms=1.5"
    assert (access["route"], access["status"], access["request_id"], access["ms"]) == ("/predict", 200, "abc", 1.5)
    assert access["level"] == "INFO" and access["service"] == "gateway" and access["pid"] == os.getpid()
    assert access["logger"] == "tests.logging_setup" and access["time"].endswith("Z")
    assert "missing" not in access
    assert forged["level"] == "WARNING" and forged["message"].startswith("forged?\n") and forged["model_version"] == "3"
    assert failed["job_id"] == "j1" and "RuntimeError: boom" in failed["exception"]


def test_the_level_still_filters_before_anything_is_queued(restore_logging: None) -> None:
    stream = io.StringIO()
    _configure("WARNING", "text", stream)
    probe = _RenderedWhere()
    log.info("hidden %s", probe)
    stop_logging()
    assert stream.getvalue() == "" and probe.threads == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_gets_its_own_writer_thread(restore_logging: None, tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    with path.open("a", encoding="utf-8") as stream:
        _configure("INFO", "text", stream)
        log.info("parent before fork")
        pid = os.fork()
        if pid == 0:  # the child leaves through os._exit, as a prefork pool's children do
            log.info("child line")
            stop_logging()
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        log.info("parent after fork")
        stop_logging()
    text = path.read_text(encoding="utf-8")
    assert "child line" in text and "parent after fork" in text
    assert text.count("parent before fork") == 1


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.writer_threads: set[str] = set()

    def write(self, text: str) -> int:
        self.writes += 1
        self.writer_threads.add(threading.current_thread().name)
        return super().write(text)


def _wait_written(stream: io.StringIO, text: str, times: int = 1, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while stream.getvalue().count(text) < times and time.monotonic() < deadline:
        time.sleep(0.001)
    assert stream.getvalue().count(text) >= times, stream.getvalue()


def test_a_burst_of_lines_is_written_in_a_few_calls_not_one_per_line(restore_logging: None) -> None:
    # One write (and one wake of the writer thread) per line made the access log cost more than the request's own
    # work: lines of a burst are gathered and written together.
    stream = _CountingStream()
    _configure("INFO", "text", stream)
    for index in range(2000):
        log.info("request done %s", kv(index=index))
    stop_logging()
    lines = stream.getvalue().splitlines()
    assert [line.rsplit("=", 1)[1] for line in lines] == [str(i) for i in range(2000)]
    assert stream.writes <= 10, stream.writes
    assert threading.current_thread().name not in stream.writer_threads


def test_a_line_logged_while_idle_is_written_within_a_moment(restore_logging: None) -> None:
    stream = _CountingStream()
    _configure("INFO", "text", stream)
    log.info("first")
    _wait_written(stream, "first")
    time.sleep(0.2)
    log.info("second, after the writer went back to sleep")
    _wait_written(stream, "second")


def test_a_warning_is_written_without_waiting_for_the_burst_to_gather(restore_logging: None) -> None:
    from shared import logging_setup

    stream = _CountingStream()
    _configure("INFO", "text", stream)
    log.info("warm up")
    time.sleep(0.3)
    written_in = []
    for _ in range(5):
        started = time.monotonic()
        log.warning("the worker is about to die")
        _wait_written(stream, "about to die", times=len(written_in) + 1)
        written_in.append(time.monotonic() - started)
    # Each warning reaches the stream well before the burst's linger would have ended.
    assert sorted(written_in)[2] < logging_setup.LINGER_S / 2, written_in


def test_text_lines_carry_each_records_own_time_though_the_second_is_rendered_once() -> None:
    plain, cached = logging.Formatter(_FORMAT), TextFormatter()
    for created in (1_700_000_000.001, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_000.25, 1_700_003_600.0):
        record = logging.LogRecord("gateway.access", logging.INFO, "", 0, "%s", (kv(status=200),), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert cached.format(record) == plain.format(record)


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter("gateway")], ids=["text", "json"])
def test_a_queued_line_is_written_as_the_record_of_its_message_and_context(formatter: logging.Formatter) -> None:
    for created in (1_700_000_000.001, 1_700_000_000.999, 1_700_000_001.5):
        context = kv(route="/predict", status=200, request_id="abc", ms=1.5, missing=None)
        record = logging.LogRecord("gateway.access", logging.INFO, "", 0, "%s %s", ("POST /predict", context), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        line = Line(created, "gateway.access", "POST /predict", context)
        assert formatter.format_line(line) == formatter.format(record)  # type: ignore[attr-defined]


def test_queue_line_is_rendered_by_the_writer_in_order_with_records_and_filtered_by_level(
    restore_logging: None,
) -> None:
    stream = io.StringIO()
    _configure("INFO", "text", stream)
    probe = _RenderedWhere()
    log.info("first %s", kv(index=0))
    queue_line(log, "POST /predict", kv(probe=probe))
    log.info("last %s", kv(index=2))
    log.setLevel(logging.WARNING)
    hidden = _RenderedWhere()
    try:
        queue_line(log, "GET /hidden", kv(probe=hidden))
    finally:
        log.setLevel(logging.NOTSET)
    stop_logging()
    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 4)[4] for line in lines] == [
        "first index=0",
        "POST /predict probe=rendered",
        "last index=2",
    ]
    assert lines[1].split(" ")[2:4] == ["INFO", "tests.logging_setup"]
    assert probe.threads and threading.current_thread().name not in probe.threads
    assert hidden.threads == []
    # With the writer stopped, the line takes the ordinary path and still appears.
    queue_line(log, "POST /predict", kv(after="stop"))
    assert stream.getvalue().splitlines()[-1].endswith("POST /predict after=stop")
