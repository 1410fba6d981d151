"""`include_feedback` trains on analysts' verdicts from a real SQLite prediction log, logged to a real MLflow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient

from local_stack.processes import ManagedProcess
from shared.prediction_log import PredictionLog
from shared.schemas.base import new_id
from shared.schemas.prediction_log import LoggedPredictionIn
from shared.training_params import validate_params
from tests.conftest import MODEL_SIGNING_KEY, TEST_TARGET_PRECISION
from training_worker.datasets import load_dataset
from training_worker.feedback import FeedbackUnavailable, read_feedback
from training_worker.pipeline import run_training
from training_worker.settings import TrainingSettings
from training_worker.splits import make_split

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A classical job of a few seconds; its own registered model name, so the session's champions are not touched.
TINY_JOB = {
    "dataset": "bundled-airline",
    "max_rows": 200,
    "grid": "small",
    "cv_folds": 2,
    "vectorizers": ["bow"],
    "models": ["logreg"],
}
LONG_AGO = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _log_verdict(log: PredictionLog, text: str, predicted: str, verdict: str, at: datetime) -> None:
    prediction = LoggedPredictionIn(
        prediction_id=new_id(),
        text=text,
        label=predicted,
        probability_positive=0.7 if predicted == "positive" else 0.3,
        threshold=0.5,
        model_name="air-paradis-lstm",
        model_version="3",
        caller="test-client",
        created_at=at - timedelta(minutes=5),
    )
    log.insert_many([prediction])
    assert log.record_feedback(prediction.prediction_id, verdict, "alice", at)


@pytest.fixture
def feedback_log(tmp_path: Path) -> Iterator[PredictionLog]:
    log = PredictionLog(f"sqlite:///{tmp_path / 'prediction-log.db'}")
    log.upgrade()
    yield log
    log.close()


def _settings(mlflow_url: str, log: PredictionLog) -> TrainingSettings:
    return TrainingSettings(
        environment="test",
        mlflow_tracking_uri=mlflow_url,
        prediction_log_url=log.url,
        experiment_name="feedback-from-the-log",
        classical_model_name="feedback-test-classical",
        target_precision=float(TEST_TARGET_PRECISION),
        model_signing_key=MODEL_SIGNING_KEY,
    )


def test_a_job_trains_on_the_logs_feedback_since_a_date(
    mlflow_server: tuple[ManagedProcess, str], feedback_log: PredictionLog
) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(days=1)
    # The job's own split: one of its test tweets, corrected by an analyst, must stay out of training.
    job_split = make_split(load_dataset("bundled-airline", 200), 42, 0.1, 0.2)
    test_tweet = job_split.test_texts[0]
    _log_verdict(feedback_log, "@united the gate agent rebooked us in minutes, thank you", "negative", "positive", now)
    _log_verdict(feedback_log, "@delta four hours on the tarmac and no water", "positive", "negative", now)
    _log_verdict(feedback_log, "@jetblue lovely crew, smooth landing", "positive", "positive", now)  # a confirmation
    _log_verdict(feedback_log, test_tweet, "positive", "negative", now)
    _log_verdict(feedback_log, "@southwestair older verdict, before the date", "negative", "positive", LONG_AGO)

    params = {**TINY_JOB, "include_feedback": True, "feedback_since": since.isoformat()}
    outcome = run_training("classical", params, _settings(mlflow_server[1], feedback_log))

    run = MlflowClient(mlflow_server[1]).get_run(outcome.run_id)
    logged = run.data.params
    assert {name: logged[name] for name in logged if name.startswith("feedback_")} == {
        "feedback_since": str(validate_params("classical", params).feedback_since),
        "feedback_rows_read": "4",  # the verdict before the date is not read
        "feedback_corrections": "3",
        "feedback_confirmations": "1",
        "feedback_rows": "3",  # the corrected test tweet is not trained on
        "feedback_rows_held_out": "1",
        "feedback_rows_duplicate": "0",
    }
    assert int(logged["split_rows_train"]) == len(job_split.train_texts) + 3
    assert logged["split_rows_test"] == str(len(job_split.test_texts))
    assert run.data.tags["dataset"] == "bundled-airline[sample=200]+feedback"


def test_a_job_without_the_date_reads_every_verdict(
    mlflow_server: tuple[ManagedProcess, str], feedback_log: PredictionLog
) -> None:
    _log_verdict(feedback_log, "@southwestair older verdict, still counted", "negative", "positive", LONG_AGO)
    _log_verdict(feedback_log, "@united new verdict", "positive", "positive", datetime.now(UTC))
    outcome = run_training(
        "classical", {**TINY_JOB, "include_feedback": True}, _settings(mlflow_server[1], feedback_log)
    )
    logged = MlflowClient(mlflow_server[1]).get_run(outcome.run_id).data.params
    assert (logged["feedback_rows_read"], logged["feedback_rows"]) == ("2", "2")


def test_an_unreadable_log_fails_the_job_with_the_reason(tmp_path: Path) -> None:
    # A database without the log's table (the log writer never ran its migrations there).
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(FeedbackUnavailable, match=r"include_feedback: the prediction log at sqlite:///.*empty\.db"):
        read_feedback(url, None)
