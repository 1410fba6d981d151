"""The running app in a real headless Chromium: predict, upload a CSV, every page screenshotted under test-output.

Needs Debian's Chromium (`apt-get install -y chromium chromium-driver`); installs nothing itself.
Set UPDATE_DOCS_SCREENSHOTS=1 to also copy the screenshots to docs/screenshots/ for the README.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_stack.processes import ManagedProcess, free_port
from tests.conftest import ADMIN_KEY, ANALYST_KEY, Stack, alerting_env
from tests.ui.conftest import TINY_CLASSICAL_JOB, chromium_path, start_ui

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Measured here: these flags keep Chromium quiet and stable in a container (see ../shared/README.md).
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-sandbox",
]
TIMEOUT_MS = 60_000
TWEETS = [
    "@united thank you, the crew were great and we landed early!",
    "@delta lost my bag again, three hours on hold",
    "@jetblue best flight ever, comfy seats and free wifi",
    "@americanair cancelled with no notice, never again",
    "@southwestair quick boarding and friendly staff",
    "@usairways delayed four hours and nobody told us why",
    "@virginamerica love the mood lighting",
    "@united the seat was broken and the food was cold",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Debian's Chromium is missing: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def ui_server(ready_gateway: str, stack: Stack) -> Iterator[str]:
    process, url = start_ui(ready_gateway, stack, stack.log_dir, name="ui-browser")
    yield url
    process.stop()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("browser console:\n" + "\n".join(console[-50:]))
    context.close()


def shoot(page, screenshots_dir: Path, name: str) -> Path:
    # Let charts and images finish drawing: they load lazily after the script run ends.
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")  # the icon font, or icons show as their names
    # Streamlit scrolls its main pane, not the document: grow the window to the pane's content to get it all.
    height = page.evaluate(
        "() => { const main = document.querySelector('[data-testid=\"stMain\"]');"
        " main.scrollTo(0, 0); return main.scrollHeight; }"
    )
    page.set_viewport_size({"width": page.viewport_size["width"], "height": max(int(height), 700)})
    page.wait_for_timeout(800)
    path = screenshots_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
    return path


def open_app(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", level=1).first.wait_for()


def enter_key(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")


def go_to(page, link: str, heading: str) -> None:
    """Follow a sidebar link: the same browser session, so the keys typed stay."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=link).click()
    page.get_by_role("heading", level=1).filter(has_text=heading).wait_for()


def finished(page) -> None:
    """Wait until Streamlit's script run is over (its 'running' indicator gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


def test_type_a_tweet_click_predict_see_the_label(page, ui_server: str, screenshots_dir: Path) -> None:
    open_app(page, ui_server)
    page.get_by_label("Tweet", exact=True).fill(TWEETS[0])
    page.get_by_role("button", name="Predict", exact=True).click()
    label = page.locator("h3").filter(has_text=re.compile(r"(positive|negative)$"))
    label.wait_for()
    # Streamlit sends the label and the model line as separate deltas: wait for the line, do not sample it once.
    page.get_by_text(re.compile(r"Model air-paradis-lstm version \d+")).wait_for()
    enter_key(page, "Analyst key", ANALYST_KEY)
    finished(page)
    page.get_by_role("button", name=re.compile("This prediction is wrong")).click()
    page.get_by_text(re.compile("^Flagged as")).wait_for()
    shoot(page, screenshots_dir, "predict")


def test_upload_a_csv_and_see_the_table(page, ui_server: str, screenshots_dir: Path, tmp_path: Path) -> None:
    csv = tmp_path / "tweets.csv"
    csv.write_text("text\n" + "\n".join(f'"{t}"' for t in TWEETS) + "\n", encoding="utf-8")
    open_app(page, ui_server)
    go_to(page, "Batch", "Score many tweets")
    page.locator('input[type="file"]').set_input_files(str(csv))
    page.get_by_text("tweets.csv").wait_for()
    finished(page)
    page.get_by_role("button", name="Score", exact=True).click()
    page.get_by_text(f"{len(TWEETS)} tweets scored.").wait_for()
    # The grid draws on a canvas; its accessible cells are in the DOM but hidden.
    page.locator('[role="gridcell"]', has_text=TWEETS[1]).first.wait_for(state="attached")
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').nth(1).wait_for()
    shoot(page, screenshots_dir, "batch")


def test_alerts_page_with_a_sent_report(
    page, ui_server: str, ready_gateway: str, stack: Stack, screenshots_dir: Path, smtp_server, alerting_process
) -> None:
    alerting_process(alerting_env(stack.redis_url, smtp_server.port, CONSUMER_NAME="alerting-ui-test"))
    for text in TWEETS[2:5]:
        prediction = httpx.post(ready_gateway + "/predict", json={"text": text}, timeout=30).json()
        wrong = "negative" if prediction["label"] == "positive" else "positive"
        httpx.post(
            ready_gateway + "/feedback",
            json={"prediction_id": prediction["prediction_id"], "correct_label": wrong},
            headers={"X-API-Key": ANALYST_KEY},
            timeout=30,
        ).raise_for_status()
    smtp_server.wait_for(1, timeout_s=60)
    open_app(page, ui_server)
    enter_key(page, "Analyst key", ANALYST_KEY)
    finished(page)
    go_to(page, "Feedback & alerts", "Feedback & alerts")
    page.get_by_text("Flagged mispredictions").wait_for()
    page.locator('[role="gridcell"]', has_text="sent").first.wait_for(state="attached")
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for()
    shoot(page, screenshots_dir, "alerts")


@pytest.fixture(scope="module")
def classical_version(ready_gateway: str, training_worker: ManagedProcess) -> dict:
    """A finished classical job, so that the models page has two families to compare and a job to list."""
    headers = {"X-API-Key": ADMIN_KEY}
    job = httpx.post(
        ready_gateway + "/admin/training-jobs",
        json={"family": "classical", "params": TINY_CLASSICAL_JOB},
        headers=headers,
        timeout=30,
    ).json()
    deadline = time.monotonic() + 240
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
        job = httpx.get(ready_gateway + f"/admin/training-jobs/{job['job_id']}", headers=headers, timeout=30).json()
    assert job["state"] == "succeeded", job
    return job


def test_models_page_with_versions_plots_and_jobs(
    page, ui_server: str, classical_version: dict, screenshots_dir: Path
) -> None:
    open_app(page, ui_server)
    enter_key(page, "Admin key", ADMIN_KEY)
    finished(page)
    go_to(page, "Models & training", "Models & training")
    page.get_by_text("Registered versions").wait_for()
    page.get_by_text(re.compile(r"Inference serves air-paradis-lstm version \d+")).wait_for()
    page.locator('[data-testid="stImage"] img').nth(2).wait_for()
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for()
    page.get_by_text(classical_version["job_id"][:8]).wait_for()
    # An invalid parameter is marked under its field before anything is sent.
    epochs = page.get_by_label("epochs", exact=True)
    epochs.fill("0")
    epochs.press("Enter")
    page.get_by_text("Input should be greater than or equal to 1").wait_for()
    assert page.get_by_role("button", name="Queue job").is_disabled()
    shoot(page, screenshots_dir, "models")


def test_gateway_down_banner(browser, stack: Stack, screenshots_dir: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    process, url = start_ui(dead, None, stack.log_dir, name="ui-gateway-down")
    context = browser.new_context(viewport={"width": 1280, "height": 700})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        open_app(page, url)
        page.get_by_text(f"cannot reach the gateway at {dead}").wait_for()
        shoot(page, screenshots_dir, "gateway_down")
    finally:
        context.close()
        process.stop()
