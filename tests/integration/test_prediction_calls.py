"""The call stream between gateway and inference workers, over real processes.

What a caller would notice: a call nobody waits for any more is dropped rather than computed, an unreadable
entry does not stop the worker, and a Python caller that scores in bulk on the stream gets every tweet answered
in order and recorded under its own request id.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from shared import redis_keys
from shared.prediction_record import decode_record
from shared.schemas.calls import PredictCall, PredictReply

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STREAM = redis_keys.PREDICT_CALLS_STREAM


def send_call(client: redis.Redis, texts: list[str], timeout_s: float) -> tuple[PredictCall, redis.client.PubSub]:
    """Sends a call the way a gateway does, already listening on its reply channel."""
    channel = redis_keys.predict_reply_channel("test-" + uuid.uuid4().hex[:8])
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    now = time.time()
    call = PredictCall(
        call_id=uuid.uuid4().hex,
        reply_to=channel,
        texts=texts,
        request_ids=[f"req-{i}" for i in range(len(texts))],
        sent_at=now,
        deadline=now + timeout_s,
    )
    client.xadd(STREAM, {"call": call.model_dump_json()})
    return call, pubsub


def replies(pubsub: redis.client.PubSub, wait_s: float) -> list[PredictReply]:
    deadline = time.monotonic() + wait_s
    received: list[PredictReply] = []
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            received += [PredictReply.model_validate(r) for r in json.loads(message["data"])]
    return received


def test_a_call_is_answered_on_its_channel_and_leaves_nothing_pending(ready_gateway: str, stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    call, pubsub = send_call(client, ["@united lovely crew", "@united lost my bag"], timeout_s=10)
    (reply,) = replies(pubsub, 5)
    assert reply.call_id == call.call_id and reply.error is None
    assert [len(p.prediction_id) for p in reply.predictions] == [32, 32]
    prediction_id = reply.predictions[1].prediction_id
    record = decode_record(prediction_id, client.get(redis_keys.prediction(prediction_id)))
    assert record.text == "@united lost my bag" and record.request_id == "req-1"
    # The stored copy (read back by a gateway whose subscription dropped) expires with the caller's deadline.
    assert 0 < client.ttl(redis_keys.predict_reply(call.call_id)) <= 10
    assert client.xpending(STREAM, redis_keys.PREDICT_CALLS_GROUP)["pending"] == 0


def test_a_call_past_its_deadline_is_dropped_not_computed(ready_gateway: str, stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    call, pubsub = send_call(client, ["@united this caller already had its 503"], timeout_s=-1)
    assert replies(pubsub, 2) == []
    assert client.get(redis_keys.predict_reply(call.call_id)) is None
    assert not [e for e in client.xrange(STREAM) if call.call_id.encode() in e[1].get(b"call", b"")]


def test_an_unreadable_entry_is_dropped_and_the_worker_keeps_answering(ready_gateway: str, stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    bad_id = client.xadd(STREAM, {"call": b"{not json"})
    call, pubsub = send_call(client, ["@united still answering?"], timeout_s=10)
    (reply,) = replies(pubsub, 5)
    assert reply.call_id == call.call_id and len(reply.predictions) == 1
    assert client.xrange(STREAM, min=bad_id, max=bad_id) == []


def test_a_bulk_call_from_python_is_answered_in_order_on_one_model_version(ready_gateway: str, stack) -> None:
    # More tweets than one model call takes (MAX_BATCH_SIZE): the worker splits them, the caller cannot tell.
    texts = [f"@united flight {i} {'thank you so much' if i % 2 else 'worst delay ever'}" for i in range(150)]
    client = redis.Redis.from_url(stack.redis_url)
    call, pubsub = send_call(client, texts, timeout_s=30)
    (reply,) = replies(pubsub, 5)
    assert reply.call_id == call.call_id and reply.error is None
    assert len(reply.predictions) == len(texts)
    assert len({p.model_version for p in reply.predictions}) == 1
    for index in (0, 64, 149):
        prediction_id = reply.predictions[index].prediction_id
        record = decode_record(prediction_id, client.get(redis_keys.prediction(prediction_id)))
        assert record.text == texts[index] and record.request_id == f"req-{index}"
