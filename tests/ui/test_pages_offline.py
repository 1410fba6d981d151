"""Pages with the gateway down: every page says which URL it tried, and nothing shows a traceback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from local_stack.processes import free_port

PAGES = ["views/predict.py", "views/batch.py", "views/review.py", "views/alerts.py", "views/models.py"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_a_banner_naming_the_url_it_tried(page: str, make_app: Callable[..., AppTest]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = make_app(url, analyst_api_key="k", admin_api_key="k").run()
    app.switch_page(page).run()
    assert not app.exception
    banner = app.error[0].value
    assert banner.startswith("**Gateway unreachable** — cannot reach the gateway at " + url)
