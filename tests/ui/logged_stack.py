"""A gateway reading a prediction log that a real log writer fills, for the Review page and the trend chart.

The log is a SQLite file of this module; six days of past predictions (three airlines, a few flagged) is written
into it directly, so that the trend has hours to draw; the tweets a test posts go the real way: gateway, inference
worker, log stream, log writer.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from local_stack.processes import ManagedProcess, start_service, wait_until
from shared.prediction_log import PredictionLog
from shared.schemas.base import new_id
from shared.schemas.prediction_log import LoggedPredictionIn
from tests.conftest import ADMIN_KEY, ANALYST_KEY, Stack, start_gateway

ANALYST = {"X-API-Key": ANALYST_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}
HISTORY_AIRLINES = {"united": 0.35, "delta": 0.55, "jetblue": 0.7}  # each one's typical positive share
# Inside the trend's "last 7 days" (today and the six days before, whole days).
HISTORY_DAYS = 6


@dataclass
class LoggedStack:
    gateway_url: str
    log: PredictionLog
    history_rows: int

    def post_tweets(self, texts: list[str]) -> list[dict]:
        """Predictions made the real way; returns their answers once the log writer has logged every one."""
        answers = [httpx.post(self.gateway_url + "/predict", json={"text": t}, timeout=30).json() for t in texts]
        ids = {answer["prediction_id"] for answer in answers}
        wait_until(lambda: ids <= {row.prediction_id for row in self.logged(ids)}, 60, "the log writer")
        return answers

    def logged(self, ids: set[str]) -> list:
        return [row for row in (self.log.get(prediction_id) for prediction_id in ids) if row is not None]

    def queue(self, **params: str) -> list[dict]:
        response = httpx.get(self.gateway_url + "/predictions", params=params, headers=ANALYST, timeout=30)
        response.raise_for_status()
        return response.json()["predictions"]

    def wait_for_verdict(self, prediction_id: str, label: str, timeout_s: float = 60) -> dict:
        """The row as `GET /predictions` shows it once the log holds `label` as its feedback."""
        found: dict = {}

        def holds() -> bool:
            rows = [r for r in self.queue(q=self.text_of(prediction_id)) if r["prediction_id"] == prediction_id]
            found.update(rows[0] if rows else {})
            return bool(rows) and rows[0]["feedback_label"] == label

        wait_until(holds, timeout_s, f"the verdict on {prediction_id} in GET /predictions", interval_s=0.3)
        return found

    def text_of(self, prediction_id: str) -> str:
        row = self.log.get(prediction_id)
        assert row is not None
        return row.text


def unique_marker() -> str:
    """A word no other tweet of the session holds, to find a test's own tweets with the text filter."""
    return "zq" + uuid.uuid4().hex[:8]


def seed_history(log: PredictionLog, now: datetime) -> int:
    """Six days of hourly predictions for three airlines, positive share drifting by day, a few flagged wrong."""
    rng = random.Random(19)
    rows, verdicts = [], []
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=HISTORY_DAYS)
    for hour in range(HISTORY_DAYS * 24):
        at = start + timedelta(hours=hour, minutes=rng.randint(0, 50))
        for airline, share in HISTORY_AIRLINES.items():
            daily = share + 0.15 * math.sin(hour / 24 * math.pi * 2 / 3 + len(airline))
            for _ in range(rng.randint(2, 9)):
                probability = min(max(rng.gauss(0.75 if rng.random() < daily else 0.25, 0.18), 0.01), 0.99)
                row = LoggedPredictionIn(
                    prediction_id=new_id(),
                    text=f"@{airline} history tweet {len(rows)}",
                    label="positive" if probability >= 0.5 else "negative",
                    probability_positive=round(probability, 4),
                    threshold=0.5,
                    model_name="air-paradis-lstm",
                    model_version="1" if hour < HISTORY_DAYS * 12 else "2",
                    caller="seed",
                    created_at=at,
                )
                rows.append(row)
                if rng.random() < 0.04:
                    wrong = "negative" if row.label == "positive" else "positive"
                    verdicts.append((row.prediction_id, wrong, rng.choice(["alice", "bob"]), at + timedelta(minutes=5)))
    log.insert_many(rows)
    for prediction_id, label, analyst, at in verdicts:
        log.record_feedback(prediction_id, label, analyst, at)
    return len(rows)


@pytest.fixture(scope="module")
def logged_stack(
    stack: Stack, inference_worker: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoggedStack]:
    url = f"sqlite:///{tmp_path_factory.mktemp('prediction-log') / 'log.db'}"
    log = PredictionLog(url)
    log.upgrade()
    history = seed_history(log, datetime.now(UTC))
    writer = start_service(
        "log-writer-ui", ["log_writer"], stack.env(PREDICTION_LOG_URL=url, LOG_READ_BLOCK_MS="100"), stack.log_dir
    )
    gateway, gateway_url = start_gateway(stack, name="gateway-ui-log", PREDICTION_LOG_URL=url)
    wait_until(
        lambda: httpx.get(gateway_url + "/ready", timeout=5).status_code == 200, 120, "gateway /ready", interval_s=0.5
    )
    try:
        yield LoggedStack(gateway_url, log, history)
    finally:
        gateway.stop()
        writer.stop()
        log.close()
