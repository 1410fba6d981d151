"""The compact prediction record: what the worker stores is what feedback reads, and older records stay readable."""

from __future__ import annotations

import pytest

from shared.prediction_record import decode_record, encode_record
from shared.schemas.base import utc_now
from shared.schemas.calls import PredictionRecord
from shared.storage_budget import is_out_of_memory, memory_state
from tests.factories import make_prediction


@pytest.mark.parametrize("request_id", ["req-1", None])
def test_a_record_round_trips_with_only_what_feedback_reads(request_id: str | None) -> None:
    made = make_prediction()
    raw = encode_record(made, "@united lost my bag 😡", request_id)
    assert "prediction_id" not in raw and "😡" in raw  # the id is in the key; UTF-8 rather than \u escapes
    record = decode_record(made.prediction_id, raw.encode())
    assert record.model_dump() == {
        "prediction_id": made.prediction_id,
        "label": "negative",
        "probability_positive": 0.123457,
        "model_name": "air-paradis-lstm",
        "model_version": "7",
        "text": "@united lost my bag 😡",
        "request_id": request_id,
    }


def test_a_record_in_the_earlier_form_is_still_read() -> None:
    made = make_prediction(label="positive")
    fields = {**made.model_dump(), "text": "great crew", "created_at": utc_now(), "request_id": "r"}
    earlier = PredictionRecord.model_validate(fields).model_dump_json()
    record = decode_record(made.prediction_id, earlier)
    assert (record.label, record.text, record.model_version, record.request_id) == ("positive", "great crew", "7", "r")


@pytest.mark.parametrize("raw", ['"text"', "[1, 0.5]", "{}", '[7, 0.5, "m", "1", "t"]'])
def test_an_unreadable_record_is_a_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        decode_record("abc", raw)


def test_redis_refusals_for_memory_are_recognised_bare_or_inside_a_script() -> None:
    assert is_out_of_memory(Exception("command not allowed when used memory > 'maxmemory'."))
    wrapped = "Error running script (call to f_1): @user_script:1: -OOM command not allowed when used memory > 'x'."
    assert is_out_of_memory(Exception(wrapped))
    assert not is_out_of_memory(Exception("Connection refused"))
    full = memory_state({"used_memory": 2**20, "maxmemory": 2**20, "maxmemory_policy": "noeviction"})
    assert full.refusing_writes and full.reason().startswith("storage full: Redis holds 1.0 MB of its 1.0 MB budget")
    assert not memory_state({"used_memory": 2**20, "maxmemory": 0, "maxmemory_policy": "noeviction"}).refusing_writes
    assert not memory_state({"used_memory": 9, "maxmemory": 8, "maxmemory_policy": "allkeys-lru"}).refusing_writes
