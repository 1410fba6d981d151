"""Analysts' verdicts from the prediction log as training rows: corrections and confirmations alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from shared.logging_setup import kv
from shared.prediction_log import PredictionLog
from shared.schemas.prediction_log import FeedbackExample
from training_worker.splits import ExtraRows, Split

log = logging.getLogger(__name__)


class FeedbackUnavailable(RuntimeError):
    """The prediction log could not be read: a job that asked for feedback fails rather than train without it."""


@dataclass(frozen=True)
class FeedbackUse:
    """How many verdicts the log gave and what became of them; recorded on the run."""

    since: datetime | None
    read: int
    corrections: int
    confirmations: int
    rows: ExtraRows

    def as_params(self) -> dict[str, int]:
        """The counts only: every family logs the job's params, `feedback_since` among them."""
        return {
            "feedback_rows_read": self.read,
            "feedback_corrections": self.corrections,
            "feedback_confirmations": self.confirmations,
            "feedback_rows": self.rows.added,
            "feedback_rows_held_out": self.rows.held_out,
            "feedback_rows_duplicate": self.rows.duplicates,
        }


def read_feedback(prediction_log_url: str, since: datetime | None) -> list[FeedbackExample]:
    prediction_log = PredictionLog(prediction_log_url)
    try:
        return prediction_log.feedback_rows(since)
    except SQLAlchemyError as exc:
        raise FeedbackUnavailable(
            f"include_feedback: the prediction log at {prediction_log.describe()} could not be read "
            f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:300]})"
        ) from None
    finally:
        prediction_log.close()


def add_feedback(
    split: Split, examples: list[FeedbackExample], since: datetime | None, job_id: str | None = None
) -> tuple[Split, FeedbackUse]:
    """`split` with the analysts' labelled tweets added to its training part (never to validation or test)."""
    texts = [example.text for example in examples]
    labels = [1 if example.label == "positive" else 0 for example in examples]
    extended, rows = split.with_extra_training_rows(texts, labels)
    corrections = sum(1 for example in examples if example.is_misprediction)
    use = FeedbackUse(since, len(examples), corrections, len(examples) - corrections, rows)
    log.info("feedback added to training %s", kv(job_id=job_id, since=since, **use.as_params()))
    return extended, use
