"""With its inference worker killed, the gateway says so on /ready and answers /predict with 503 in time."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_stack.processes import start_redis
from tests.conftest import Stack, start_gateway, start_inference_worker, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def own_stack(stack: Stack, tiny_champion: dict, tmp_path: Path) -> Iterator[Stack]:
    """A private Redis (so killing things here cannot disturb other tests) over the shared registry."""
    redis_process, redis_url = start_redis(tmp_path / "redis")
    yield Stack(redis_url=redis_url, mlflow_url=stack.mlflow_url, log_dir=tmp_path / "logs")
    redis_process.stop()


def test_killed_worker_shows_on_ready_and_predict_fails_fast(own_stack: Stack) -> None:
    worker = start_inference_worker(own_stack)
    gateway, url = start_gateway(own_stack, PREDICT_TIMEOUT_S="3")
    try:
        wait_ready(url)
        assert httpx.post(url + "/predict", json={"text": "lovely crew"}, timeout=10).status_code == 200

        worker.kill(signal.SIGKILL)
        deadline = time.monotonic() + 15
        body: dict = {}
        while time.monotonic() < deadline:
            response = httpx.get(url + "/ready", timeout=5)
            body = response.json()
            if response.status_code == 503:
                break
            time.sleep(0.5)
        assert body["ready"] is False
        assert "no inference worker is running" in body["problems"]

        started = time.monotonic()
        response = httpx.post(url + "/predict", json={"text": "lovely crew"}, timeout=10)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        assert "inference worker" in response.json()["detail"]
        assert time.monotonic() - started < 3 + 1  # within the configured timeout
    finally:
        gateway.stop()
        worker.stop()
