"""One log format for every service: key=value context (request id, model version) after the message."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_air_paradis", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._air_paradis = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "alembic", "botocore", "matplotlib", "h5py", "absl", "gensim"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class LogContext:
    """`key=value` pairs for a log line, rendered only when the line is emitted (hot paths log below the level)."""

    __slots__ = ("_context",)

    def __init__(self, context: dict[str, object]) -> None:
        self._context = context

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self._context.items() if v is not None)


def kv(**context: object) -> LogContext:
    return LogContext(context)
