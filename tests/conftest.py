"""Fixtures that start real services: redis-server, the MLflow server, a tiny registered LSTM, worker, gateway.

Everything listens on free loopback ports and lives in a temporary folder; nothing touches a Redis or MLflow
the tests did not start.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local_stack.processes import (
    PYTHON,
    ManagedProcess,
    free_port,
    http_ok,
    start_mlflow,
    start_redis,
    start_service,
    wait_until,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ANALYST_KEY = "test-analyst-key"
ADMIN_KEY = "test-admin-key"
# The key training signs registered versions with and inference workers check them by.
MODEL_SIGNING_KEY = "test-model-signing-key"
# Tiny test models cannot reach the production target precision; the promotion rule is the same, at this target.
TEST_TARGET_PRECISION = "0.3"
# Small enough to train in seconds, real enough to be a registered Word2Vec + LSTM champion.
TINY_LSTM_PARAMS = {
    "dataset": "bundled",
    "max_rows": 800,
    "epochs": 3,
    "embedding_dim": 16,
    "lstm_units": 8,
    "max_len": 24,
    "word2vec_epochs": 2,
    "learning_rate": 0.005,
}


@dataclass
class Stack:
    """Where the test services listen, and the environment that points a service at them."""

    redis_url: str
    mlflow_url: str
    log_dir: Path

    @property
    def prediction_log_url(self) -> str:
        # The session's own SQLite log, never the repository's .local/ default.
        return f"sqlite:///{self.log_dir.parent / 'prediction-log.db'}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "ENVIRONMENT": "test",
            "PREDICTION_LOG_URL": self.prediction_log_url,
            "REDIS_URL": self.redis_url,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "ANALYST_API_KEY": ANALYST_KEY,
            "ADMIN_API_KEY": ADMIN_KEY,
            "MODEL_SIGNING_KEY": MODEL_SIGNING_KEY,
            "TARGET_PRECISION": TEST_TARGET_PRECISION,
            "HF_HUB_OFFLINE": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1",
            # One gateway process unless a test asks for more: the default follows the machine's core count.
            "GATEWAY_PROCESSES": "1",
            **extra,
        }


@pytest.fixture(scope="session")
def test_output_dir() -> Path:
    path = Path(os.environ.get("TEST_OUTPUT_DIR", "test-output")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_server(services_dir: Path) -> Iterator[tuple[ManagedProcess, str]]:
    process, url = start_redis(services_dir / "redis", persistent=True)
    yield process, url
    process.stop()


@pytest.fixture(scope="session")
def mlflow_server(services_dir: Path) -> Iterator[tuple[ManagedProcess, str]]:
    process, url = start_mlflow(services_dir / "mlflow")
    yield process, url
    process.stop()


@pytest.fixture(scope="session")
def stack(
    redis_server: tuple[ManagedProcess, str], mlflow_server: tuple[ManagedProcess, str], services_dir: Path
) -> Stack:
    return Stack(redis_url=redis_server[1], mlflow_url=mlflow_server[1], log_dir=services_dir / "logs")


def train_in_subprocess(stack: Stack, family: str, params: dict, timeout_s: float = 600) -> dict:
    """Run `python -m training_worker train` against the test stack; returns its JSON summary."""
    completed = subprocess.run(
        [PYTHON, "-m", "training_worker", "train", "--family", family, "--params", json.dumps(params)],
        env={**os.environ, **stack.env()},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def tiny_champion(stack: Stack) -> dict:
    """A tiny Word2Vec + LSTM trained on real tweets, registered and holding the `champion` alias."""
    summary = train_in_subprocess(stack, "lstm", TINY_LSTM_PARAMS)
    assert summary["promoted"], summary
    return summary


def start_inference_worker(stack: Stack, name: str = "inference-worker", **env: str) -> ManagedProcess:
    process = start_service(name, ["inference_worker"], stack.env(**env), stack.log_dir)
    return process


@pytest.fixture(scope="session")
def inference_worker(stack: Stack, tiny_champion: dict) -> Iterator[ManagedProcess]:
    process = start_inference_worker(stack)
    yield process
    process.stop()


def start_gateway(stack: Stack, name: str = "gateway", **env: str) -> tuple[ManagedProcess, str]:
    port = free_port()
    gateway_env = stack.env(HOST="127.0.0.1", GATEWAY_PORT=str(port), **env)
    process = start_service(name, ["gateway"], gateway_env, stack.log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(url + "/health"), 60, "gateway", process)
    except BaseException:
        process.stop()  # else a gateway slow to start outlives the failed test, with its processes
        raise
    return process, url


@pytest.fixture(scope="session")
def gateway(stack: Stack) -> Iterator[str]:
    process, url = start_gateway(stack)
    yield url
    process.stop()


def wait_ready(url: str, timeout_s: float = 120) -> dict:
    def ready() -> bool:
        return httpx.get(url + "/ready", timeout=5).status_code == 200

    wait_until(ready, timeout_s, "gateway /ready", interval_s=0.5)
    return httpx.get(url + "/ready", timeout=5).json()


@pytest.fixture(scope="session")
def ready_gateway(gateway: str, inference_worker: ManagedProcess) -> str:
    """A gateway whose /ready is green: Redis up, a worker running, the tiny champion loaded."""
    wait_ready(gateway)
    return gateway


# --- Alerting: a real SMTP server (aiosmtpd) and the alerting process ----------------------------------------------


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts, parsed."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.messages: list = []
        self._controller = None

    def start(self) -> SmtpSink:
        from email import message_from_bytes, policy

        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                raw = envelope.original_content or envelope.content
                sink.messages.append(message_from_bytes(raw, policy=policy.default))
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout_s: float = 30) -> list:
        wait_until(lambda: len(self.messages) >= count, timeout_s, f"{count} email(s) at the test SMTP server")
        return list(self.messages)


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def alerting_env(redis_url: str, smtp_port: int | None, **extra: str) -> dict[str, str]:
    """Quick rule timings for tests: retries after 0.5 s (capped at 1 s), no STARTTLS on the loopback server."""
    env = {
        "ENVIRONMENT": "test",
        "REDIS_URL": redis_url,
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # nothing listens: reports go out without a run link
        "ALERT_THRESHOLD": "3",
        "ALERT_WINDOW_S": "300",
        "ALERT_COOLDOWN_S": "0",
        "RETRY_INITIAL_S": "0.5",
        "RETRY_MAX_S": "1",
        "READ_BLOCK_MS": "200",
        "CONSUMER_NAME": "alerting-test",
        "MAIL_TO": "ops@example.test,ml@example.test",
        # No drift email unless a test asks for one: the session's traffic is whatever earlier tests sent.
        "DRIFT_MIN_PREDICTIONS": "1000000000",
        "DRIFT_CHECK_INTERVAL_S": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if smtp_port is not None:
        env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_STARTTLS": "false"})
    env.update(extra)
    return env


@pytest.fixture
def alerting_process(services_dir: Path) -> Iterator:
    """Starts `python -m alerting` with the given environment (see `alerting_env`); stops every one it started."""
    started: list[ManagedProcess] = []

    def start(env: dict[str, str], name: str = "alerting") -> ManagedProcess:
        process = start_service(f"{name}-{len(started)}", ["alerting"], env, services_dir / "logs")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of the tests' own (initdb on a free port, fsync off), never the machine's: the URL of an
    empty database on it. Tests that share it keep to their own rows (or their own database)."""
    from local_stack.processes import start_postgres, stop_postgres

    process, url = start_postgres(durable=False)
    yield url
    stop_postgres(process)


def fresh_postgres_database(url: str, name: str) -> str:
    """A new, empty database beside `url`'s on the same test server; returns its URL."""
    import psycopg

    base, _, _ = url.rpartition("/")
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"
