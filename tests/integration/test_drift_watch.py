"""Drift watch: out-of-vocabulary tweets through a real gateway and worker raise the OOV share and the PSI of
probability_positive on the worker's /metrics and on GET /stats/drift, beside the reference saved with the model,
and alerting sends one drift email."""

from __future__ import annotations

import random
import re
import time

import httpx
import pytest

from local_stack.processes import free_port, wait_until
from shared.schemas.base import new_id
from tests.conftest import ANALYST_KEY, SmtpSink, alerting_env, start_inference_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANALYST = {"X-API-Key": ANALYST_KEY}
PSI_THRESHOLD = 0.5


def _gibberish(count: int, seed: int = 7) -> list[str]:
    """Tweets of made-up words: every token is outside any vocabulary trained on real tweets."""
    rng = random.Random(seed)
    letters = "bcdfghjklmnpqrstvwxz"

    def word() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(5, 9)))

    return [" ".join(word() for _ in range(rng.randint(4, 10))) for _ in range(count)]


def _gauge(metrics_text: str, name: str, version: str) -> float | None:
    found = re.search(rf'^{name}{{model_version="{version}"}} (\S+)$', metrics_text, re.MULTILINE)
    return float(found.group(1)) if found else None


def _drift_of(gateway: str, version: str) -> dict | None:
    body = httpx.get(gateway + "/stats/drift", headers=ANALYST, timeout=10).json()
    return next((v for v in body["versions"] if v["model_version"] == version), None)


def test_out_of_vocabulary_traffic_raises_the_drift_metrics_and_sends_one_email(
    ready_gateway: str, tiny_champion: dict, stack, smtp_server: SmtpSink, alerting_process
) -> None:
    version = tiny_champion["model_version"]
    metrics_port = free_port()
    worker = start_inference_worker(stack, "inference-worker-drift", METRICS_PORT=str(metrics_port))
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_until(
            lambda: "inference_model_version_info" in httpx.get(metrics_url, timeout=2).text, 120, "worker", worker
        )
        group = f"alerting-drift-{new_id()[:8]}"
        env = alerting_env(
            stack.redis_url,
            smtp_server.port,
            CONSUMER_GROUP=group,
            GROUP_START_ID="$",
            DRIFT_PSI_THRESHOLD=str(PSI_THRESHOLD),
            DRIFT_MIN_PREDICTIONS="100",
            DRIFT_REPORT_COOLDOWN_S="3600",
        )
        alerting = alerting_process(env)

        tweets = _gibberish(400)
        for start in range(0, len(tweets), 25):
            answer = httpx.post(
                ready_gateway + "/predict/batch", json={"texts": tweets[start : start + 25]}, timeout=30
            )
            assert answer.status_code == 200, answer.text

        def worker_saw_it() -> bool:
            text = httpx.get(metrics_url, timeout=2).text
            served = _gauge(text, "inference_drift_window_predictions", version) or 0
            return served >= 25

        wait_until(worker_saw_it, 30, "the drift gauges on the worker's /metrics", worker)
        text = httpx.get(metrics_url, timeout=2).text
        reference_oov = _gauge(text, "inference_drift_reference_oov_share", version)
        assert reference_oov is not None and reference_oov < 0.5
        assert _gauge(text, "inference_drift_oov_share", version) > 0.95  # this worker served gibberish only
        assert _gauge(text, "inference_drift_probability_psi", version) > PSI_THRESHOLD

        wait_until(lambda: (_drift_of(ready_gateway, version) or {}).get("predictions", 0) >= 400, 30, "/stats/drift")
        stats = _drift_of(ready_gateway, version)
        assert stats["workers"] >= 1 and stats["reference"]["rows"] > 0
        assert stats["oov_share"] > 0.9 > stats["reference"]["oov_share"]
        assert stats["psi"] > PSI_THRESHOLD
        assert len(stats["probability_histogram"]) == len(stats["reference"]["probability_histogram"]) == 10

        [message] = smtp_server.wait_for(1, timeout_s=30)
        assert message["Subject"].startswith(f"[Air Paradis] Drift on air-paradis-lstm v{version}: PSI ")
        assert message["X-Air-Paradis-Report-Kind"] == "drift"
        body = message.get_body(("plain",)).get_content()
        assert "Out-of-vocabulary tokens: " in body and "(DRIFT_PSI_THRESHOLD)" in body
        # Checked every second: the cooldown keeps it to one email while the drift lasts.
        time.sleep(4)
        assert len(smtp_server.messages) == 1 and alerting.alive()
    finally:
        worker.stop()
