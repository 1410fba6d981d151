"""Fixtures of the UI tests: the app under AppTest or as a server, pointed at the real gateway of the test stack."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from local_stack.processes import ManagedProcess, free_port, http_ok, start_service, wait_until
from tests.conftest import Stack
from tests.ui.logged_stack import logged_stack  # noqa: F401  (a fixture: the Review page's gateway, log and writer)

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
# A tiny classical job: one vectorizer, one model, two folds on 200 tweets; a few seconds of training.
TINY_CLASSICAL_JOB = {
    "dataset": "bundled-airline",
    "max_rows": 200,
    "grid": "small",
    "cv_folds": 2,
    "vectorizers": ["bow"],
    "models": ["logreg"],
}


def ui_env(gateway_url: str, stack: Stack | None = None) -> dict[str, str]:
    env = {"GATEWAY_URL": gateway_url, "REQUEST_TIMEOUT_S": "30", "JOBS_REFRESH_S": "1", "ENVIRONMENT": "test"}
    if stack is not None:
        env.update({"MLFLOW_TRACKING_URI": stack.mlflow_url, "MLFLOW_UI_URL": stack.mlflow_url})
    return env


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """An AppTest of ui/app.py whose settings point at `gateway_url` (the app reads them on every run)."""

    def make(gateway_url: str, stack: Stack | None = None, **session: str) -> AppTest:
        for name, value in ui_env(gateway_url, stack).items():
            monkeypatch.setenv(name, value)
        app = AppTest.from_file(APP, default_timeout=60)
        for key, value in session.items():
            app.session_state[key] = value
        return app

    return make


@pytest.fixture(scope="session")
def training_worker(stack: Stack) -> Iterator[ManagedProcess]:
    process = start_service("ui-training-worker", ["training_worker", "worker"], stack.env(), stack.log_dir)
    yield process
    process.stop(timeout_s=20)


def start_ui(gateway_url: str, stack: Stack | None, log_dir: Path, name: str = "ui") -> tuple[ManagedProcess, str]:
    """`python -m ui` on a free port, exactly as an operator starts it."""
    port = free_port()
    env = {**ui_env(gateway_url, stack), "HOST": "127.0.0.1", "UI_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    process = start_service(name, ["ui"], env, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(url + "/_stcore/health"), 60, "streamlit ui", process, interval_s=0.2)
    return process, url


@pytest.fixture(scope="session")
def screenshots_dir(test_output_dir: Path) -> Path:
    path = test_output_dir / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/lib/chromium/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so a fixture can print the browser's console on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
