"""FeedbackStore on a real redis-server: a repeat is idempotent, each change publishes its events exactly once."""

from __future__ import annotations

import threading

import pytest
import redis

from shared import redis_keys
from shared.events import FEEDBACK_STREAM, MISPREDICTIONS_STREAM, decode
from shared.feedback import FeedbackStore, PredictionNotFound
from shared.prediction_record import encode_record
from shared.schemas.api import FeedbackRequest, Prediction
from shared.schemas.base import new_id
from shared.schemas.events import FeedbackRecord, MispredictionEvent

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_server) -> redis.Redis:
    return redis.Redis.from_url(redis_server[1])


def recorded(client: redis.Redis, text: str = "the crew lost my bag", label: str = "positive") -> str:
    """A prediction stored the way the inference worker stores it."""
    prediction = Prediction(
        prediction_id=new_id(),
        label=label,
        probability_positive=0.8 if label == "positive" else 0.2,
        model_name="air-paradis-lstm",
        model_version="3",
        embedding_type="word2vec",
        threshold=0.5,
    )
    client.set(redis_keys.prediction(prediction.prediction_id), encode_record(prediction, text, "req-1"), ex=600)
    return prediction.prediction_id


def mispredictions(client: redis.Redis, prediction_id: str) -> list[MispredictionEvent]:
    events = [decode(fields, MispredictionEvent) for _, fields in client.xrange(MISPREDICTIONS_STREAM)]
    return [event for event in events if event.prediction_id == prediction_id]


def feedback_log(client: redis.Redis, prediction_id: str) -> list[FeedbackRecord]:
    records = [decode(fields, FeedbackRecord) for _, fields in client.xrange(FEEDBACK_STREAM)]
    return [record for record in records if record.prediction_id == prediction_id]


def test_a_wrong_label_is_stored_once_with_one_event_and_a_repeat_changes_nothing(client: redis.Redis) -> None:
    store = FeedbackStore(client)
    prediction_id = recorded(client, text="vol annulé, merci 🙄")
    flag = FeedbackRequest(prediction_id=prediction_id, correct_label="negative", comment="sarcasm")

    first = store.give(flag, analyst="ana")
    assert first.is_new and first.changed
    assert first.record.is_misprediction and first.record.analyst == "ana"
    assert first.event is not None and first.event.feedback_id == first.record.feedback_id
    (event,) = mispredictions(client, prediction_id)
    assert event == first.event and event.text == "vol annulé, merci 🙄" and event.model_version == "3"
    assert feedback_log(client, prediction_id) == [first.record]
    assert store.get(prediction_id) == first.record
    assert next(c for c in store.corrections() if c.text == "vol annulé, merci 🙄").label == "negative"

    repeat = store.give(flag, analyst="ana")
    assert not repeat.is_new and not repeat.changed and repeat.event is None
    assert repeat.record == first.record
    assert len(mispredictions(client, prediction_id)) == 1
    assert len(feedback_log(client, prediction_id)) == 1


def test_changing_the_label_updates_the_record_and_raises_an_event_only_for_a_new_wrong_label(
    client: redis.Redis,
) -> None:
    store = FeedbackStore(client)
    prediction_id = recorded(client, text="great crew, on time")
    wrong = store.give(FeedbackRequest(prediction_id=prediction_id, correct_label="negative"), analyst="ana")

    right = store.give(FeedbackRequest(prediction_id=prediction_id, correct_label="positive"), analyst="bob")
    assert not right.is_new and right.changed and right.event is None
    assert right.record.feedback_id == wrong.record.feedback_id and not right.record.is_misprediction
    assert client.hget(redis_keys.FEEDBACK_CORRECTIONS, prediction_id) is None  # retraining no longer uses it

    comment_only = store.give(
        FeedbackRequest(prediction_id=prediction_id, correct_label="positive", comment="fine after all"), "bob"
    )
    assert comment_only.changed and comment_only.event is None and comment_only.record.comment == "fine after all"

    again = store.give(FeedbackRequest(prediction_id=prediction_id, correct_label="negative"), analyst="ana")
    assert again.event is not None and again.record.comment == "fine after all"
    assert [e.event_id for e in mispredictions(client, prediction_id)] == [wrong.event.event_id, again.event.event_id]
    assert [r.correct_label for r in feedback_log(client, prediction_id)] == [
        "negative",
        "positive",
        "positive",
        "negative",
    ]


def test_an_unknown_prediction_writes_nothing(client: redis.Redis) -> None:
    prediction_id = new_id()
    with pytest.raises(PredictionNotFound):
        FeedbackStore(client).give(FeedbackRequest(prediction_id=prediction_id, correct_label="negative"), "ana")
    assert client.get(redis_keys.feedback_by_prediction(prediction_id)) is None
    assert feedback_log(client, prediction_id) == []


def test_concurrent_flags_of_one_prediction_make_one_record_and_one_event(client: redis.Redis, redis_server) -> None:
    prediction_id = recorded(client)
    flag = FeedbackRequest(prediction_id=prediction_id, correct_label="negative")
    outcomes = []
    start = threading.Barrier(8)

    def give() -> None:
        store = FeedbackStore(redis.Redis.from_url(redis_server[1]))
        start.wait()
        outcomes.append(store.give(flag, analyst="ana"))

    threads = [threading.Thread(target=give) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 8
    assert sum(outcome.is_new for outcome in outcomes) == 1
    assert len({outcome.record.feedback_id for outcome in outcomes}) == 1
    assert len(mispredictions(client, prediction_id)) == 1
    assert len(feedback_log(client, prediction_id)) == 1
