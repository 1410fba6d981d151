"""Smoke test of the self-hosted Compose stack: built images, started for real, checked through the gateway's port.

Run by scripts/deploy_check.sh, which starts a Docker engine and an S3 server, builds the images and writes the env
file named by SMOKE_ENV_FILE (random secrets, free ports). Skipped when that file is not given.
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = os.environ.get("SMOKE_ENV_FILE", "")
PROJECT = os.environ.get("SMOKE_PROJECT", "air-paradis-smoke")
TWEETS = (
    "@united thank you so much, the crew was wonderful and we landed early!",
    "@united lost my bag again and nobody answers the phone, worst airline ever",
    "@united great seats, friendly staff, I will fly with you again",
)

if not ENV_FILE:
    pytest.skip("run by scripts/deploy_check.sh, which sets SMOKE_ENV_FILE", allow_module_level=True)


def _env() -> dict[str, str]:
    values = {}
    for line in Path(ENV_FILE).read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


SETTINGS = _env()
COMPOSE = [
    "docker",
    "compose",
    "-p",
    PROJECT,
    "-f",
    str(ROOT / "compose/docker-compose.yml"),
    "-f",
    str(ROOT / "compose/docker-compose.smoke.yml"),
    "--env-file",
    ENV_FILE,
]
APP_SERVICES = ["gateway", "inference-worker", "training-worker", "alerting", "ui"]


def compose(*args: str, timeout_s: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMPOSE, *args], capture_output=True, text=True, timeout=timeout_s, check=check)


def _show_logs() -> None:
    logs = compose("logs", "--no-color", "--tail", "60", check=False)
    print(logs.stdout[-20000:], logs.stderr[-2000:])


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    started = time.monotonic()
    try:
        # The registry and its artifact store first, then a tiny champion, then the services that serve it.
        compose("up", "-d", "--wait", "--wait-timeout", "300", "redis", "mlflow", "smtp-sink")
        boot = compose("run", "--rm", "bootstrap", timeout_s=900)
        print(boot.stdout[-2000:])
        compose("up", "-d", "--wait", "--wait-timeout", "300", *APP_SERVICES)
        print(f"stack up and healthy in {time.monotonic() - started:.0f} s")
        yield f"http://127.0.0.1:{SETTINGS['GATEWAY_PORT']}"
    except subprocess.CalledProcessError as exc:
        _show_logs()
        pytest.fail(f"{' '.join(exc.cmd[len(COMPOSE) :])} failed: {exc.stderr[-3000:]}")
    finally:
        if os.environ.get("SMOKE_SHOW_LOGS"):
            _show_logs()
        compose("down", "-v", "--remove-orphans", check=False, timeout_s=300)


@pytest.fixture(scope="module")
def client(gateway_url: str) -> Iterator[httpx.Client]:
    headers = {"X-API-Key": SETTINGS["ANALYST_API_KEY"]}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=30) as http:
        yield http


def _wait_ready(client: httpx.Client, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    body: dict = {}
    while time.monotonic() < deadline:
        response = client.get("/ready")
        body = response.json()
        if response.status_code == 200 and body["ready"]:
            return body
        time.sleep(2)
    raise AssertionError(f"/ready never turned green: {body}")


def test_ready_is_green_with_the_registry_champion(client: httpx.Client) -> None:
    ready = _wait_ready(client)
    assert ready["redis"] and ready["workers"] >= 1 and ready["model_loaded"], ready
    models = client.get("/models")
    assert models.status_code == 200, models.text
    assert models.json()["serving_version"] == ready["model_version"], (models.json(), ready)


def test_a_tweet_is_predicted_by_the_worker_container(client: httpx.Client) -> None:
    ready = _wait_ready(client)
    response = client.post("/predict", json={"text": TWEETS[0]})
    assert response.status_code == 200, response.text
    prediction = response.json()
    assert prediction["label"] in ("positive", "negative")
    assert 0.0 <= prediction["probability_positive"] <= 1.0
    assert (prediction["model_name"], prediction["model_version"]) == (ready["model_name"], ready["model_version"])


def _mail_in_sink() -> list[email.message.EmailMessage]:
    """Messages the SMTP sink kept (a Maildir: one file per message under new/), read inside its container."""
    listing = compose("exec", "-T", "smtp-sink", "ls", "/tmp/mail/new", check=False)
    messages = []
    for name in listing.stdout.split():
        raw = compose("exec", "-T", "smtp-sink", "cat", f"/tmp/mail/new/{name}").stdout
        messages.append(email.message_from_string(raw, policy=email.policy.default))
    return messages


def test_three_flagged_mispredictions_send_an_email_report(client: httpx.Client) -> None:
    _wait_ready(client)
    flagged = []
    for tweet in TWEETS:
        prediction = client.post("/predict", json={"text": tweet})
        assert prediction.status_code == 200, prediction.text
        body = prediction.json()
        wrong = "negative" if body["label"] == "positive" else "positive"
        feedback = client.post(
            "/feedback", json={"prediction_id": body["prediction_id"], "correct_label": wrong, "comment": "smoke test"}
        )
        assert feedback.status_code in (200, 201), feedback.text
        assert feedback.json()["is_misprediction"] is True
        flagged.append(body["prediction_id"])

    deadline = time.monotonic() + 90
    messages: list[email.message.EmailMessage] = []
    while time.monotonic() < deadline and not messages:
        messages = _mail_in_sink()
        time.sleep(2)
    assert messages, f"no email reached the SMTP sink; /alerts says {client.get('/alerts').text[:2000]}"
    report = messages[-1]
    assert "mispredictions" in report["Subject"], report["Subject"]
    assert report["To"] == SETTINGS["MAIL_TO"]
    content = report.get_body(preferencelist=("plain", "html")).get_content()
    assert all(prediction_id in content for prediction_id in flagged), content


def test_mlflow_needs_a_login_and_only_training_may_move_the_champion(client: httpx.Client) -> None:
    ready = _wait_ready(client)
    mlflow_url = f"http://127.0.0.1:{SETTINGS['MLFLOW_PORT']}"
    search = "/api/2.0/mlflow/registered-models/search"
    alias = {"name": ready["model_name"], "alias": "champion", "version": ready["model_version"]}
    assert httpx.get(mlflow_url + search, timeout=10).status_code == 401
    assert httpx.post(mlflow_url + "/api/2.0/mlflow/registered-models/alias", json=alias, timeout=10).status_code == 401
    reader = (SETTINGS.get("MLFLOW_READER_USERNAME", "reader"), SETTINGS["MLFLOW_READER_PASSWORD"])
    assert httpx.get(mlflow_url + search, auth=reader, timeout=10).status_code == 200
    moved = httpx.post(mlflow_url + "/api/2.0/mlflow/registered-models/alias", json=alias, auth=reader, timeout=10)
    assert moved.status_code == 403, moved.text
