"""Message schemas and settings: validation messages say what to fix; secrets refuse defaults outside local."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from shared.schemas.api import FeedbackRequest, PredictBatchRequest, PredictRequest
from shared.schemas.base import MAX_TEXT_CHARS
from shared.schemas.events import ModelPromotedEvent
from shared.training_params import validate_params


def test_predict_request_accepts_a_tweet_and_refuses_empty_or_long_text() -> None:
    assert PredictRequest(text="great flight").text == "great flight"
    with pytest.raises(ValidationError, match="empty"):
        PredictRequest(text="  ")
    with pytest.raises(ValidationError, match=f"at most {MAX_TEXT_CHARS}"):
        PredictRequest(text="x" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(ValidationError):
        PredictRequest(text=123)  # type: ignore[arg-type]


def test_batch_errors_name_the_offending_index() -> None:
    with pytest.raises(ValidationError, match=r"texts\[2\]"):
        PredictBatchRequest(texts=["ok", "fine", " "])


def test_feedback_label_is_positive_or_negative() -> None:
    with pytest.raises(ValidationError):
        FeedbackRequest(prediction_id="abc", correct_label="neutral")  # type: ignore[arg-type]


def test_events_are_versioned_and_round_trip() -> None:
    event = ModelPromotedEvent(family="lstm", model_name="m", model_version="3", precision=0.9)
    assert event.schema_version == 1
    assert ModelPromotedEvent.model_validate_json(event.model_dump_json()) == event


def test_training_params_are_checked_per_family() -> None:
    assert validate_params("lstm", {"epochs": 2}).epochs == 2
    with pytest.raises(ValueError, match="unknown family"):
        validate_params("xgboost", {})
    with pytest.raises(ValidationError, match="epochs"):
        validate_params("lstm", {"epochs": 0})
    with pytest.raises(ValidationError, match="extra"):
        validate_params("bert", {"nonsense": 1})


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:6380/2")
    monkeypatch.setenv("PREDICT_TIMEOUT_S", "2.5")
    settings = GatewaySettings()
    assert settings.redis_url == "redis://example:6380/2"
    assert settings.predict_timeout_s == 2.5


def test_production_refuses_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="ANALYST_API_KEY"):
        GatewaySettings()
    monkeypatch.setenv("ANALYST_API_KEY", "a-long-random-analyst-key")
    monkeypatch.setenv("ADMIN_API_KEY", "a-long-random-admin-key")
    assert GatewaySettings().environment == "production"
