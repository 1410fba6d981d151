"""Analysts' feedback in Redis: one record per prediction, the corrected tweets retraining reads, and the events.

Each flag is one optimistic transaction (WATCH on the prediction's feedback key): the record, the correction, the
events and the verdict's entry on the prediction log stream land together or not at all, so an event is never lost
behind a stored record, nor published twice by a retried request. An unchanged repeat keeps its feedback id and
writes nothing. A prediction whose Redis record has expired is looked up in the prediction log (`find_logged`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from shared import redis_keys
from shared.events import FEEDBACK_STREAM, MISPREDICTIONS_STREAM, publish_in
from shared.prediction_record import RecordedPrediction, decode_record
from shared.schemas.api import FeedbackRequest
from shared.schemas.base import Label, new_id, utc_now
from shared.schemas.events import FeedbackRecord, MispredictionEvent
from shared.schemas.prediction_log import FeedbackLogEntry, LoggedPredictionIn

# Looks a prediction up in the prediction log by id (None: not logged); its errors propagate to the caller.
FindLogged = Callable[[str], LoggedPredictionIn | None]

# Concurrent flags on one prediction race on its feedback key; a few optimistic retries settle them.
_MAX_WATCH_RETRIES = 5


class PredictionNotFound(KeyError):
    """No prediction is recorded under this id (never made, or expired)."""


class FeedbackConflict(Exception):
    """The prediction's feedback kept changing under concurrent flags; the caller may retry."""


@dataclass(frozen=True)
class FeedbackOutcome:
    """What one flag did: the record as stored, whether it is the prediction's first, the event it raised."""

    record: FeedbackRecord
    prediction: RecordedPrediction
    is_new: bool
    changed: bool
    event: MispredictionEvent | None


@dataclass(frozen=True)
class Correction:
    """A tweet whose label an analyst corrected: extra training data."""

    text: str
    label: Label


def _decide(
    feedback: FeedbackRequest, prediction: RecordedPrediction, existing: FeedbackRecord | None, analyst: str
) -> FeedbackRecord | None:
    """The record to store, or None when `feedback` repeats what is stored already."""
    now = utc_now()
    if existing is None:
        return FeedbackRecord(
            feedback_id=new_id(),
            prediction_id=prediction.prediction_id,
            predicted_label=prediction.label,
            correct_label=feedback.correct_label,
            is_misprediction=feedback.correct_label != prediction.label,
            comment=feedback.comment,
            analyst=analyst,
            created_at=now,
            updated_at=now,
        )
    same_label = existing.correct_label == feedback.correct_label
    if same_label and (feedback.comment is None or feedback.comment == existing.comment):
        return None
    return existing.model_copy(
        update={
            "correct_label": feedback.correct_label,
            "is_misprediction": feedback.correct_label != prediction.label,
            "comment": feedback.comment if feedback.comment is not None else existing.comment,
            "analyst": analyst,
            "updated_at": now,
        }
    )


def _misprediction(prediction: RecordedPrediction, record: FeedbackRecord) -> MispredictionEvent:
    return MispredictionEvent(
        prediction_id=prediction.prediction_id,
        feedback_id=record.feedback_id,
        text=prediction.text,
        predicted_label=prediction.label,
        probability_positive=prediction.probability_positive,
        correct_label=record.correct_label,
        model_name=prediction.model_name,
        model_version=prediction.model_version,
        analyst=record.analyst,
        occurred_at=record.updated_at,
    )


def _from_log(logged: LoggedPredictionIn) -> RecordedPrediction:
    # Every field of a Redis record is in the log's row; the row's others are ignored.
    return RecordedPrediction.model_validate(logged.model_dump())


def _log_snapshot(prediction: RecordedPrediction, at: datetime) -> LoggedPredictionIn:
    """The prediction as its Redis record knows it: enough for the log to hold the verdict if the prediction's own
    entry has not been written yet (its threshold, caller and time then come with that entry)."""
    return LoggedPredictionIn(**prediction.model_dump(), created_at=at)


class FeedbackStore:
    def __init__(self, client: redis.Redis, find_logged: FindLogged | None = None, log_stream_maxlen: int = 0) -> None:
        """`find_logged` finds predictions Redis no longer holds; `log_stream_maxlen` > 0 appends each verdict to
        the prediction log stream (capped at about that many entries), 0 leaves the log out."""
        self._redis = client
        self._find_logged = find_logged
        self._log_stream_maxlen = log_stream_maxlen

    def give(self, feedback: FeedbackRequest, analyst: str) -> FeedbackOutcome:
        """Store `feedback` from `analyst` (the name their key carries) and publish what it changed.

        A label that differs from the prediction stores the corrected tweet; a new wrong label raises a
        misprediction event. Raises PredictionNotFound and FeedbackConflict; Redis errors propagate.
        """
        for _ in range(_MAX_WATCH_RETRIES):
            try:
                return self._give_once(feedback, analyst)
            except redis.WatchError:
                continue
        raise FeedbackConflict(f"the feedback on prediction {feedback.prediction_id!r} changed concurrently")

    def get(self, prediction_id: str) -> FeedbackRecord | None:
        raw = self._redis.get(redis_keys.feedback_by_prediction(prediction_id))
        return FeedbackRecord.model_validate_json(raw) if raw else None

    def corrections(self) -> list[Correction]:
        """Every corrected tweet, for the next training run."""
        return [Correction(**json.loads(raw)) for raw in self._redis.hvals(redis_keys.FEEDBACK_CORRECTIONS)]

    def _give_once(self, feedback: FeedbackRequest, analyst: str) -> FeedbackOutcome:
        feedback_key = redis_keys.feedback_by_prediction(feedback.prediction_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.watch(feedback_key)
            raw_prediction = pipe.get(redis_keys.prediction(feedback.prediction_id))
            logged = None
            if raw_prediction is None:
                logged = self._find_logged(feedback.prediction_id) if self._find_logged else None
                if logged is None:
                    raise PredictionNotFound(feedback.prediction_id)
                prediction = _from_log(logged)
            else:
                prediction = decode_record(feedback.prediction_id, raw_prediction)
            raw_existing = pipe.get(feedback_key)
            existing = FeedbackRecord.model_validate_json(raw_existing) if raw_existing else None
            record = _decide(feedback, prediction, existing, analyst)
            if record is None:
                pipe.unwatch()
                assert existing is not None
                return FeedbackOutcome(existing, prediction, is_new=False, changed=False, event=None)
            label_changed = existing is None or existing.correct_label != record.correct_label
            event = _misprediction(prediction, record) if record.is_misprediction and label_changed else None
            pipe.multi()
            pipe.set(feedback_key, record.model_dump_json())
            if record.is_misprediction:
                correction = json.dumps({"text": prediction.text, "label": record.correct_label}, ensure_ascii=False)
                pipe.hset(redis_keys.FEEDBACK_CORRECTIONS, prediction.prediction_id, correction)
            else:
                pipe.hdel(redis_keys.FEEDBACK_CORRECTIONS, prediction.prediction_id)
            publish_in(pipe, FEEDBACK_STREAM, record)
            if event is not None:
                publish_in(pipe, MISPREDICTIONS_STREAM, event)
            if self._log_stream_maxlen:
                verdict = FeedbackLogEntry(
                    prediction=logged or _log_snapshot(prediction, record.updated_at),
                    correct_label=record.correct_label,
                    analyst=record.analyst or analyst,
                    at=record.updated_at,
                )
                fields = {"feedback": verdict.model_dump_json()}
                pipe.xadd(redis_keys.PREDICTION_LOG_STREAM, fields, maxlen=self._log_stream_maxlen, approximate=True)
            pipe.execute()
        return FeedbackOutcome(record, prediction, is_new=existing is None, changed=True, event=event)
