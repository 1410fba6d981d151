"""Reading misprediction events through a Redis consumer group: new ones, and on start those left unacknowledged."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from pydantic import ValidationError

from shared.consumer_groups import ensure_group
from shared.events import MISPREDICTIONS_STREAM, decode
from shared.logging_setup import kv
from shared.schemas.events import MispredictionEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamEntry:
    """One stream entry; `event` is None when it cannot be read (trimmed away or not a MispredictionEvent)."""

    stream_id: str
    event: MispredictionEvent | None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(raw: list) -> list[StreamEntry]:
    entries = []
    for stream_id, fields in raw:
        stream_id = _text(stream_id)
        event = None
        if fields:
            try:
                event = decode(fields, MispredictionEvent)
            except (ValidationError, TypeError, ValueError) as exc:
                log.error("unreadable misprediction event %s", kv(stream_id=stream_id, error=repr(exc)[:300]))
        entries.append(StreamEntry(stream_id, event))
    return entries


class MispredictionConsumer:
    """One member of the alerting consumer group; entries stay pending until `ack` (or a pipeline) acknowledges them."""

    def __init__(
        self,
        client: redis.Redis,
        group: str,
        consumer: str,
        stream: str = MISPREDICTIONS_STREAM,
        start_id: str = "0",
    ) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self.stream = stream
        self.start_id = start_id

    def ensure_group(self) -> None:
        if ensure_group(self.client, self.stream, self.group, self.start_id):
            log.info("consumer group created %s", kv(stream=self.stream, group=self.group, start=self.start_id))

    def recover(self, count: int = 100) -> list[StreamEntry]:
        """Everything delivered but never acknowledged: first taken over from any other member (a renamed or dead
        instance), then this member's own pending list, oldest first."""
        cursor = "0-0"
        while True:
            answer = self.client.xautoclaim(self.stream, self.group, self.consumer, 0, start_id=cursor, count=count)
            cursor = _text(answer[0])
            if cursor == "0-0":
                break
        recovered: list[StreamEntry] = []
        after = "0"
        while True:
            answer = self.client.xreadgroup(self.group, self.consumer, {self.stream: after}, count=count)
            page = _entries(answer[0][1]) if answer else []
            if not page:
                break
            recovered += page
            after = page[-1].stream_id
        if recovered:
            log.info("recovered pending events %s", kv(count=len(recovered), consumer=self.consumer))
        return recovered

    def read(self, count: int, block_ms: int) -> list[StreamEntry]:
        answer = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms)
        return _entries(answer[0][1]) if answer else []

    def ack(self, stream_ids: list[str], pipe: redis.client.Pipeline | None = None) -> None:
        if stream_ids:
            (pipe or self.client).xack(self.stream, self.group, *stream_ids)
