"""The Review page and the trend chart in a real headless Chromium, against `python -m ui` and a logged stack.

Screenshots land in test-output/screenshots/ (and docs/screenshots/ with UPDATE_DOCS_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY, ANALYST_KEY, Stack
from tests.ui.conftest import start_ui
from tests.ui.logged_stack import LoggedStack, unique_marker
from tests.ui.test_browser import browser, enter_key, finished, go_to, open_app, page, shoot  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

CHART = '[data-testid="stVegaLiteChart"]'


@pytest.fixture(scope="module")
def review_ui(logged_stack: LoggedStack, stack: Stack) -> Iterator[str]:
    process, url = start_ui(logged_stack.gateway_url, stack, stack.log_dir, name="ui-browser-review")
    yield url
    process.stop()


def _row(page, prediction_id: str):  # noqa: F811
    return page.locator(f".st-key-review_row_{prediction_id}")


def test_confirm_and_correct_from_the_review_queue(
    page,  # noqa: F811
    review_ui: str,
    logged_stack: LoggedStack,
    screenshots_dir: Path,
) -> None:
    marker = unique_marker()
    answers = logged_stack.post_tweets(
        [
            f"@united {marker} the crew were lovely and we landed early",
            f"@delta {marker} lost my bag again, three hours on hold",
            f"@jetblue {marker} the flight was ok I guess",
            f"@southwestair {marker} quick boarding and friendly staff",
        ]
    )
    queue = logged_stack.queue(q=marker, order="uncertainty")
    confirmed, corrected = queue[0], queue[1]
    opposite = {"positive": "negative", "negative": "positive"}[corrected["label"]]

    open_app(page, review_ui)
    enter_key(page, "Analyst key", ANALYST_KEY)
    finished(page)
    enter_key(page, "Admin key", ADMIN_KEY)
    finished(page)
    go_to(page, "Review", "Review predictions")
    enter_key(page, "Text contains", marker)
    finished(page)
    for answer in answers:
        _row(page, answer["prediction_id"]).wait_for()
    # The most uncertain comes first, as the API orders them.
    rows = page.locator('[class*="st-key-review_row_"]')
    assert rows.count() == len(answers)
    assert confirmed["prediction_id"] in (rows.first.get_attribute("class") or "")

    _row(page, confirmed["prediction_id"]).get_by_role("button", name=f"Right: {confirmed['label']}").click()
    _row(page, confirmed["prediction_id"]).get_by_text(re.compile("confirmed by")).wait_for()
    finished(page)
    _row(page, corrected["prediction_id"]).get_by_role("button", name=f"Wrong: it is {opposite}").click()
    _row(page, corrected["prediction_id"]).get_by_text(re.compile("flagged wrong by")).wait_for()
    finished(page)

    # Reflected in the log, through the API.
    assert logged_stack.wait_for_verdict(confirmed["prediction_id"], confirmed["label"])["is_misprediction"] is False
    assert logged_stack.wait_for_verdict(corrected["prediction_id"], opposite)["is_misprediction"] is True

    page.get_by_role("button", name="Prepare export").click()
    page.get_by_role("button", name=re.compile(r"Download CSV")).wait_for()
    finished(page)
    shoot(page, screenshots_dir, "review")


def test_the_trend_chart_draws_share_volume_and_flags(
    page,  # noqa: F811
    review_ui: str,
    screenshots_dir: Path,
) -> None:
    open_app(page, review_ui)
    enter_key(page, "Analyst key", ANALYST_KEY)
    finished(page)
    page.get_by_text("Sentiment over time").wait_for()
    # Compare the three airlines of the seeded week.
    page.get_by_label("Range").click()
    page.get_by_role("option", name="last 7 days").click()
    finished(page)
    airlines = page.get_by_label("Compare airlines")
    for airline in ("united", "delta", "jetblue"):
        airlines.click()
        page.get_by_role("option", name=airline, exact=True).click()
        finished(page)
    page.keyboard.press("Escape")
    finished(page)
    # The share above, the volume with the flags below: both drawn.
    for chart in (page.locator(CHART).nth(0), page.locator(CHART).nth(1)):
        chart.locator("canvas, svg").first.wait_for()
    page.get_by_text("Positive share", exact=True).first.wait_for()
    metric = page.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert int(metric.replace(",", "")) > 0
    finished(page)
    shoot(page, screenshots_dir, "trend")
