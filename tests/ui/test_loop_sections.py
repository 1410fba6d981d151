"""The Models & training page's loop sections under AppTest, against the real gateway and worker of the stack: the
retraining policy paused and resumed from the page, and the served version's drift beside its test split's."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import redis
from streamlit.testing.v1 import AppTest

from local_stack.processes import wait_until
from shared import redis_keys
from tests.conftest import ADMIN_KEY, ANALYST_KEY, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MakeApp = Callable[..., AppTest]
ADMIN = {"X-API-Key": ADMIN_KEY}


def _texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def test_an_admin_pauses_and_resumes_automatic_retraining(ready_gateway: str, stack: Stack, make_app: MakeApp) -> None:
    redis.Redis.from_url(stack.redis_url).delete(redis_keys.RETRAINING_PAUSE)
    app = make_app(ready_gateway, admin_api_key=ADMIN_KEY).run()
    app.switch_page("views/models.py").run()
    assert not app.exception
    assert "Automatic retraining" in _texts(app.subheader)
    app.button(key="retraining_pause").click()
    app.run()
    assert "Automatic retraining paused." in _texts(app.success)
    view = httpx.get(ready_gateway + "/admin/retraining-policy", headers=ADMIN, timeout=10).json()
    assert view["paused"] is True and view["paused_by"] == "admin"
    assert any("Paused by admin" in text for text in _texts(app.warning))
    app.button(key="retraining_resume").click()
    app.run()
    assert "Automatic retraining resumed." in _texts(app.success)
    assert httpx.get(ready_gateway + "/admin/retraining-policy", headers=ADMIN, timeout=10).json()["paused"] is False


def test_the_served_versions_drift_is_shown_beside_its_test_split(
    ready_gateway: str, tiny_champion: dict, make_app: MakeApp
) -> None:
    for text in ("@united thanks, lovely crew", "@united delayed again, awful"):
        assert httpx.post(ready_gateway + "/predict", json={"text": text}, timeout=30).status_code == 200
    version = tiny_champion["model_version"]

    def counted() -> bool:
        body = httpx.get(ready_gateway + "/stats/drift", headers={"X-API-Key": ANALYST_KEY}, timeout=10).json()
        return any(v["model_version"] == version and v["predictions"] >= 2 for v in body["versions"])

    wait_until(counted, 30, "the worker's drift window in /stats/drift")
    app = make_app(ready_gateway, analyst_api_key=ANALYST_KEY).run()
    app.switch_page("views/models.py").run()
    assert not app.exception
    assert "Drift of served traffic" in _texts(app.subheader)
    [frame] = [f.value for f in app.dataframe if "test split" in f.value.columns and "statistic" in f.value.columns][:1]
    assert frame["statistic"].tolist() == ["Out-of-vocabulary tokens", "Labelled positive", "Mean tweet length (chars)"]
    assert "—" not in frame["test split"].tolist()  # the tiny champion was trained with its reference
    assert any(metric.label == "PSI of probability_positive" and metric.value != "—" for metric in app.metric)
