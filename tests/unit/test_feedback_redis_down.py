"""With Redis down, feedback and alerts answer 503 with Retry-After, never 500."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.settings import GatewaySettings
from local_stack.processes import free_port


def test_redis_down_is_503_with_retry_after() -> None:
    settings = GatewaySettings(
        environment="test",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        analyst_api_key=SecretStr("k-analyst"),
        retry_after_s=7,
    )
    with TestClient(create_app(settings)) as client:
        headers = {"X-API-Key": "k-analyst"}
        feedback = client.post("/feedback", json={"prediction_id": "p1", "correct_label": "negative"}, headers=headers)
        assert feedback.status_code == 503
        assert feedback.headers["Retry-After"] == "7" and "not stored" in feedback.json()["detail"]
        alerts = client.get("/alerts", headers=headers)
        assert alerts.status_code == 503 and alerts.headers["Retry-After"] == "7"
