"""No API key, password or SMTP credential in any log line of the gateway, the workers or the alerting service.

Runs last in the package (file name): it greps every log the suite's processes wrote, after first driving the
alerting service through an authenticated SMTP server that goes down and comes back (where a credential would
most likely leak: login errors and retries).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
import pytest
import redis

from local_stack.processes import free_port, start_redis, start_service, wait_until
from shared import redis_keys
from shared.events import MISPREDICTIONS_STREAM, publish
from tests.conftest import ADMIN_KEY, ANALYST_KEY, MODEL_SIGNING_KEY, Stack, alerting_env, start_gateway
from tests.factories import make_misprediction
from tests.reliability.conftest import FaultStack, record_fault

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMTP_USER = "alerts-user"
SMTP_PASSWORD = "smtp-Pa55word-never-logged-7f3e"


class AuthSmtp:
    """aiosmtpd that requires AUTH LOGIN/PLAIN with one user (no TLS on loopback), keeping accepted messages."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[bytes] = []
        self.logins: list[str] = []
        self._controller = None

    def start(self) -> AuthSmtp:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                sink.messages.append(envelope.original_content or envelope.content)
                return "250 accepted"

        def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
            login = getattr(auth_data, "login", b"") or b""
            password = getattr(auth_data, "password", b"") or b""
            sink.logins.append(login.decode(errors="replace"))
            return AuthResult(success=login == SMTP_USER.encode() and password == SMTP_PASSWORD.encode())

        self._controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
            auth_required=True,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def flag(client: redis.Redis, index: int) -> None:
    publish(
        client,
        MISPREDICTIONS_STREAM,
        make_misprediction(f"@united delayed again ({index})", f"secret-test-{index}"),
    )


def test_smtp_login_with_outage_keeps_credentials_out_of_logs(faults: FaultStack, fault_table) -> None:
    smtp_port = free_port()
    client = redis.Redis.from_url(faults.stack.redis_url)
    client.delete(MISPREDICTIONS_STREAM, redis_keys.ALERTING_HEARTBEAT)
    env = alerting_env(
        faults.stack.redis_url,
        smtp_port,
        SMTP_USER=SMTP_USER,
        SMTP_PASSWORD=SMTP_PASSWORD,
        ANALYST_API_KEY=ANALYST_KEY,
        ADMIN_API_KEY=ADMIN_KEY,
        CONSUMER_NAME="alerting-secrets",
    )
    alerting = faults.service(start_service("secrets-alerting", ["alerting"], env, faults.stack.log_dir))
    wait_until(lambda: client.exists(redis_keys.ALERTING_HEARTBEAT), 60, "alerting heartbeat", alerting)
    for index in range(3):  # SMTP is down: the report waits and is retried
        flag(client, index)
    wait_until(lambda: "retry" in alerting.log_path.read_text(errors="replace").lower(), 30, "a failed send")
    server = AuthSmtp(smtp_port).start()
    try:
        wait_until(lambda: len(server.messages) >= 1, 60, "the report over authenticated SMTP", alerting)
    finally:
        server.stop()
    assert SMTP_USER in server.logins
    record_fault(
        fault_table,
        "alerting: authenticated SMTP down, then up",
        3,
        3,
        0,
        0,
        f"3 mispredictions -> {len(server.messages)} report after the server came back",
    )


def test_gateway_logs_wrong_keys_without_echoing_them(faults: FaultStack) -> None:
    gateway, url = start_gateway(faults.stack, name="secrets-gateway")
    faults.service(gateway)
    attempted = "attempted-key-" + ADMIN_KEY
    for key in (ANALYST_KEY, ADMIN_KEY, attempted):
        httpx.get(url + "/admin/training-jobs", headers={"X-API-Key": key}, timeout=10)
        httpx.post(url + "/predict", json={"text": "x"}, headers={"X-API-Key": key}, timeout=30)
    # The requests were logged (by the gateway's logging thread, a moment after each answer)...
    wait_until(lambda: gateway.log_path.read_text(errors="replace").count("POST /predict") >= 3, 10, "access lines")
    text = gateway.log_path.read_text(errors="replace")
    assert "/admin/training-jobs" in text
    assert ADMIN_KEY not in text and ANALYST_KEY not in text  # ...without the keys


REDIS_PASSWORD = "redis-Pa55word-never-logged-91c2"
WRONG_REDIS_PASSWORD = "redis-wrong-Pa55word-never-logged-5d0a"
MLFLOW_PASSWORD = "mlflow-Pa55word-never-logged-b7e1"
S3_SECRET = "s3-secret-never-logged-e44f"
SIGNING_KEY = "signing-key-never-logged-0c9d"


def test_redis_mlflow_s3_and_signing_secrets_stay_out_of_logs(tmp_path: Path) -> None:
    """A gateway and an inference worker on a Redis that requires a password, the worker's registry unreachable
    with MLflow and S3 credentials and a signing key set, and a gateway given a wrong Redis password: the paths
    where a secret would leak (connection errors, registry retries, startup lines) never log one."""
    redis_process, url = start_redis(tmp_path / "redis")
    redis.Redis.from_url(url).config_set("requirepass", REDIS_PASSWORD)
    host_port = url.removeprefix("redis://")
    stack = Stack(
        redis_url=f"redis://:{REDIS_PASSWORD}@{host_port}",
        mlflow_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: every registry call fails and is retried
        log_dir=tmp_path / "logs",
    )
    registry_secrets = {
        "MLFLOW_TRACKING_USERNAME": "mlflow-user",
        "MLFLOW_TRACKING_PASSWORD": MLFLOW_PASSWORD,
        "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "s3-access",
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "MODEL_SIGNING_KEY": SIGNING_KEY,
    }
    started = []
    try:
        gateway, gateway_url = start_gateway(stack, name="secrets-redis-gateway", **registry_secrets)
        started.append(gateway)
        # The worker logs JSON (LOG_FORMAT=json), the gateways text: both formats are read for secrets below.
        worker_env = stack.env(LOG_FORMAT="json", **registry_secrets)
        worker = start_service("secrets-worker", ["inference_worker"], worker_env, stack.log_dir)
        started.append(worker)
        wrong = Stack(f"redis://:{WRONG_REDIS_PASSWORD}@{host_port}", stack.mlflow_url, stack.log_dir)
        locked_out, locked_out_url = start_gateway(wrong, name="secrets-wrong-redis-gateway")
        started.append(locked_out)
        answers = [
            httpx.get(locked_out_url + "/ready", timeout=30),
            httpx.post(locked_out_url + "/predict", json={"text": "@united hi"}, timeout=30),
            httpx.get(gateway_url + "/ready", timeout=30),
            httpx.get(gateway_url + "/models", timeout=30),
        ]
        assert answers[1].status_code == 503, answers[1].text
        wait_until(
            lambda: "registry unreachable" in worker.log_path.read_text(errors="replace"),
            90,
            "the worker's registry failures",
            worker,
        )
    finally:
        for process in reversed(started):
            process.stop()
        redis_process.stop()
    secrets = {
        "Redis password": REDIS_PASSWORD,
        "wrong Redis password": WRONG_REDIS_PASSWORD,
        "MLflow password": MLFLOW_PASSWORD,
        "S3 secret": S3_SECRET,
        "model signing key": SIGNING_KEY,
    }
    leaks = [
        f"{process.log_path.name}: {what}"
        for process in started
        for what, value in secrets.items()
        if value in readable_log(process.log_path)
    ]
    leaks += [f"{answer.url}: {what}" for answer in answers for what, value in secrets.items() if value in answer.text]
    assert leaks == [], leaks


def readable_log(path: Path) -> str:
    """The log as written, plus each JSON line's decoded values: JSON escaping must not hide a secret."""
    lines = path.read_text(errors="replace").splitlines()
    decoded = []
    for line in lines:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                decoded.append(" ".join(str(value) for value in json.loads(line).values()))
    return "\n".join(lines + decoded)


def secret_values() -> dict[str, str]:
    return {
        "analyst key": ANALYST_KEY,
        "admin key": ADMIN_KEY,
        "SMTP password": SMTP_PASSWORD,
        "model signing key": MODEL_SIGNING_KEY,
    }


def test_no_secret_in_any_log_line(fault_stack: FaultStack, services_dir: Path) -> None:
    logs = sorted(fault_stack.stack.log_dir.glob("*.log")) + sorted((services_dir / "logs").glob("*.log"))
    names = {path.stem for path in logs}
    assert any("gateway" in n for n in names) and any("worker" in n for n in names), names
    assert any("alerting" in n for n in names), names
    leaks = []
    for path in logs:
        for number, line in enumerate(readable_log(path).splitlines(), 1):
            for what, value in secret_values().items():
                if value in line:
                    leaks.append(f"{path.name}:{number}: {what}")
    assert leaks == [], leaks[:20]
