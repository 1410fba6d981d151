"""Redis Streams: stream names and typed publish/decode helpers for the events services exchange."""

from __future__ import annotations

from typing import Any, TypeVar

import redis
from pydantic import BaseModel

MISPREDICTIONS_STREAM = "events:mispredictions"
FEEDBACK_STREAM = "events:feedback"
MODEL_PROMOTED_STREAM = "events:model-promoted"

# Streams are capped so that a long-lived box does not grow without bound; the cap is generous
# compared to what any consumer lags behind.
STREAM_MAXLEN = 100_000

EventT = TypeVar("EventT", bound=BaseModel)


def publish(client: redis.Redis, stream: str, event: BaseModel) -> str:
    """Append one event; returns the stream entry id."""
    entry_id = _append(client, stream, event)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def publish_in(transaction: redis.client.Pipeline, stream: str, event: BaseModel) -> None:
    """Queue one event on a MULTI transaction, so that it lands with the transaction's other writes or not at all."""
    _append(transaction, stream, event)


def _append(client: redis.Redis | redis.client.Pipeline, stream: str, event: BaseModel) -> Any:
    return client.xadd(stream, {"data": event.model_dump_json()}, maxlen=STREAM_MAXLEN, approximate=True)


def decode(fields: dict, model: type[EventT]) -> EventT:
    raw = fields.get(b"data", fields.get("data"))
    return model.model_validate_json(raw)
