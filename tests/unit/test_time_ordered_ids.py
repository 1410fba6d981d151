"""Prediction ids are UUIDv7: time-ordered, so the prediction log's primary-key index grows at its right edge."""

from __future__ import annotations

import time
import uuid

from shared.schemas.base import new_time_ordered_id


def test_ids_made_later_sort_later_and_carry_their_time():
    made = []
    for _ in range(20):
        made.append(new_time_ordered_id())
        time.sleep(0.002)
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    first = uuid.UUID(made[0])
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert abs((first.int >> 80) / 1000 - time.time()) < 5


def test_ids_made_within_a_millisecond_are_distinct_hex_of_uuid_length():
    made = [new_time_ordered_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in made)
