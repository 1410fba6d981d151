"""Bookkeeping of Redis Stream consumer groups shared by every service that reads a stream as a group."""

from __future__ import annotations

import redis

# A consumer gone this long, holding nothing, is removed from its group's bookkeeping.
FORGET_CONSUMER_AFTER_MS = 3_600_000


def forget_gone_consumers(client: redis.Redis, stream: str, group: str, keep: str) -> None:
    """Deletes the group's consumers that hold no entry and have been idle past FORGET_CONSUMER_AFTER_MS, except
    `keep` (the caller itself), so that restarts under new names do not pile up in XINFO."""
    for consumer in client.xinfo_consumers(stream, group):
        name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
        if consumer["pending"] == 0 and consumer["idle"] > FORGET_CONSUMER_AFTER_MS and name != keep:
            client.xgroup_delconsumer(stream, group, name)


def ensure_group(client: redis.Redis, stream: str, group: str, start_id: str = "0") -> bool:
    """Creates `group` on `stream` (and the stream if need be), reading from `start_id`; False when it exists."""
    try:
        client.xgroup_create(stream, group, id=start_id, mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return False
    return True
