"""Each page under Streamlit's AppTest against the real gateway, worker, registry and training worker of the stack."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator

import httpx
import pandas as pd
import pytest
import redis
from streamlit.testing.v1 import AppTest

from shared import redis_keys
from tests.conftest import ADMIN_KEY, ANALYST_KEY, Stack, start_gateway
from tests.ui.conftest import TINY_CLASSICAL_JOB

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MakeApp = Callable[..., AppTest]
TWEET = "@united thank you, the crew were great and we landed early!"


def _texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def _page_errors(app: AppTest, gateway: str) -> list[str]:
    """The errors the page shows, less the reasons of failed jobs in the job list: other tests share this
    gateway and queue jobs that fail on purpose (a bad dataset path), which the page rightly shows in red."""
    jobs = httpx.get(gateway + "/admin/training-jobs", headers={"X-API-Key": ADMIN_KEY}, timeout=10).json()
    reasons = {job["error"] for job in jobs if job.get("error")}
    return [text for text in _texts(app.error) if text not in reasons]


def _frame_with(app: AppTest, column: str) -> pd.DataFrame:
    """The table that has `column` (AppTest does not carry a display-only dataframe's key)."""
    frames = [frame.value for frame in app.dataframe if column in frame.value.columns]
    assert frames, f"no table with a {column!r} column"
    return frames[0]


def _predict(app: AppTest, text: str) -> AppTest:
    app.text_area(key="predict_text").input(text)
    app.button(key="predict_button").click()
    return app.run()


def _serving_version(gateway: str) -> str:
    return httpx.get(gateway + "/ready", timeout=10).json()["model_version"]


def test_predict_page_renders_the_label_probability_and_model(ready_gateway: str, make_app: MakeApp) -> None:
    app = make_app(ready_gateway).run()
    assert not app.exception and not app.error
    _predict(app, TWEET)
    assert not app.exception and not app.error, _texts(app.error)
    markdown = " ".join(_texts(app.markdown))
    assert re.search(r"### :(green|red)\[:material/sentiment_\w+: (positive|negative)\]", markdown), markdown
    assert f"Model **air-paradis-lstm** version **{_serving_version(ready_gateway)}**" in markdown
    assert "embedding **word2vec**" in markdown and " ms**" in markdown
    assert 0 <= app.get("progress")[0].value <= 100
    # Without a key the flag action says why it cannot be used.
    assert app.button(key="flag_button").disabled
    assert "analyst API key" in " ".join(_texts(app.info))


def test_a_too_long_tweet_shows_the_gateways_message(ready_gateway: str, make_app: MakeApp) -> None:
    app = _predict(make_app(ready_gateway).run(), "x" * 1001)
    assert _texts(app.error) == ["Could not predict: text: text is 1001 characters long: send at most 1000"]
    assert not app.exception


def test_the_flag_action_creates_feedback(ready_gateway: str, stack: Stack, make_app: MakeApp) -> None:
    app = _predict(make_app(ready_gateway, analyst_api_key=ANALYST_KEY).run(), TWEET)
    prediction = app.session_state["predict_last"]["prediction"]
    app.text_input(key="flag_comment").input("sarcasm")
    app.button(key="flag_button").click()
    app.run()
    assert not app.error, _texts(app.error)
    assert "Flagged as" in " ".join(_texts(app.success))
    stored = redis.Redis.from_url(stack.redis_url).get(redis_keys.feedback_by_prediction(prediction.prediction_id))
    record = json.loads(stored)
    assert record["correct_label"] != prediction.label and record["is_misprediction"] is True
    assert record["comment"] == "sarcasm" and record["analyst"] == "analyst"


@pytest.fixture(scope="module")
def gateway_without_worker(stack: Stack) -> Iterator[str]:
    # Another Redis database: no worker heartbeat there, so the gateway answers 503 at once.
    process, url = start_gateway(stack, name="gateway-no-worker", REDIS_URL=stack.redis_url.rsplit("/", 1)[0] + "/7")
    yield url
    process.stop()


def test_a_503_says_the_service_is_busy_and_when_to_retry(gateway_without_worker: str, make_app: MakeApp) -> None:
    app = _predict(make_app(gateway_without_worker).run(), TWEET)
    assert _texts(app.warning) == [
        "The service is busy or down, so it could not predict: no inference worker is running; retry in 5 s."
    ]
    assert not app.exception and not app.error


def test_batch_page_scores_an_uploaded_csv(ready_gateway: str, make_app: MakeApp) -> None:
    app = make_app(ready_gateway).run()
    app.switch_page("views/batch.py").run()
    csv = b"id,text\n1,great crew and a smooth flight\n2,my bag is lost again\n3,   \n4,thanks for the upgrade\n"
    app.file_uploader(key="batch_file").upload("tweets.csv", csv, "text/csv")
    app.run()
    app.button(key="batch_button").click()
    app.run()
    assert not app.exception and not app.error, _texts(app.error)
    assert _texts(app.success) == ["3 tweets scored."]
    results = _frame_with(app, "prediction_id")
    assert results["text"].tolist() == [
        "great crew and a smooth flight",
        "my bag is lost again",
        "thanks for the upgrade",
    ]
    assert results["row"].tolist() == [2, 3, 5]
    assert set(results["label"]) <= {"positive", "negative"}
    assert results["probability_positive"].between(0, 1).all()
    assert len(app.get("vega_lite_chart")) == 2  # the label split and the histogram
    assert app.get("download_button")


def test_pasted_tweets_are_scored(ready_gateway: str, make_app: MakeApp) -> None:
    app = make_app(ready_gateway).run()
    app.switch_page("views/batch.py").run()
    app.text_area(key="batch_paste").input("love this airline\n\nworst delay ever\n")
    app.button(key="batch_button").click()
    app.run()
    assert _texts(app.success) == ["2 tweets scored."]


def test_alerts_page_shows_flagged_mispredictions_against_the_rule(ready_gateway: str, make_app: MakeApp) -> None:
    flagged = []
    for text in ("the flight was fine", "great service", "awful food"):
        prediction = httpx.post(ready_gateway + "/predict", json={"text": text}, timeout=30).json()
        wrong = "negative" if prediction["label"] == "positive" else "positive"
        response = httpx.post(
            ready_gateway + "/feedback",
            json={"prediction_id": prediction["prediction_id"], "correct_label": wrong},
            headers={"X-API-Key": ANALYST_KEY},
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text
        flagged.append(prediction["prediction_id"])
    app = make_app(ready_gateway, analyst_api_key=ANALYST_KEY).run()
    app.switch_page("views/alerts.py").run()
    assert not app.exception and not app.error, _texts(app.error)
    events = _frame_with(app, "prediction id")
    assert set(flagged) <= set(events["prediction id"])
    assert {metric.label: metric.value for metric in app.metric}["Alert rule"] == "3 in 5 min"
    timeline = app.get("vega_lite_chart")[0].proto.spec
    # The counts over the trailing five minutes, with the rule drawn as a dashed line at three.
    assert "mispredictions in the last 5 min" in timeline and '"type": "rule"' in timeline.replace('":"', '": "')


def test_a_wrong_key_is_a_message_not_a_traceback(ready_gateway: str, make_app: MakeApp) -> None:
    app = make_app(ready_gateway, analyst_api_key="not-a-key").run()
    app.switch_page("views/alerts.py").run()
    assert not app.exception
    assert _texts(app.error) == [
        "Could not load the alerts: the gateway refused the key (401: unknown API key). Check it in the sidebar."
    ]


def test_models_page_without_a_key_says_which_key_it_needs(ready_gateway: str, make_app: MakeApp) -> None:
    app = make_app(ready_gateway).run()
    app.switch_page("views/models.py").run()
    assert not app.exception and not app.error
    assert "needs the admin API key" in _texts(app.warning)[0]
    assert not app.dataframe


def test_models_page_lists_versions_compares_families_and_shows_plots(
    ready_gateway: str, stack: Stack, make_app: MakeApp
) -> None:
    app = make_app(ready_gateway, stack, admin_api_key=ADMIN_KEY).run()
    app.switch_page("views/models.py").run()
    assert not app.exception and not _page_errors(app, ready_gateway)
    versions = _frame_with(app, "aliases")
    serving = versions[versions[""] == "★ serving"]
    assert serving["version"].tolist() == [_serving_version(ready_gateway)]
    assert serving["model"].tolist() == ["air-paradis-lstm"]
    assert app.get("vega_lite_chart")  # the family comparison
    assert len(app.get("image")) == 3, _texts(app.warning)  # confusion matrix, ROC, precision-recall from MLflow


def test_invalid_params_are_shown_inline_and_nothing_is_queued(ready_gateway: str, make_app: MakeApp) -> None:
    app = make_app(ready_gateway, admin_api_key=ADMIN_KEY).run()
    app.switch_page("views/models.py").run()
    jobs_before = len(httpx.get(ready_gateway + "/admin/training-jobs", headers={"X-API-Key": ADMIN_KEY}).json())
    app.number_input(key="train_lstm_epochs").set_value(0)
    app.number_input(key="train_lstm_validation_fraction").set_value(0.7)
    app.run()
    assert sorted(_page_errors(app, ready_gateway)) == [
        "Input should be greater than or equal to 1",
        "Input should be less than 0.5",
    ]
    assert app.button(key="train_queue").disabled
    jobs_after = len(httpx.get(ready_gateway + "/admin/training-jobs", headers={"X-API-Key": ADMIN_KEY}).json())
    assert jobs_after == jobs_before


def test_a_queued_job_shows_its_progress(ready_gateway: str, make_app: MakeApp, training_worker) -> None:
    app = make_app(ready_gateway, admin_api_key=ADMIN_KEY).run()
    app.switch_page("views/models.py").run()
    app.button_group(key="train_family").set_value("classical").run()
    app.text_input(key="train_classical_dataset").input(TINY_CLASSICAL_JOB["dataset"])
    app.number_input(key="train_classical_max_rows").set_value(TINY_CLASSICAL_JOB["max_rows"])
    app.selectbox(key="train_classical_grid").set_value(TINY_CLASSICAL_JOB["grid"])
    app.number_input(key="train_classical_cv_folds").set_value(TINY_CLASSICAL_JOB["cv_folds"])
    app.multiselect(key="train_classical_vectorizers").set_value(TINY_CLASSICAL_JOB["vectorizers"])
    app.multiselect(key="train_classical_models").set_value(TINY_CLASSICAL_JOB["models"])
    app.run()
    assert not _page_errors(app, ready_gateway)
    app.button(key="train_queue").click()
    app.run()
    assert not app.exception and not _page_errors(app, ready_gateway)
    job_id = app.session_state["models_queued_job"]
    job = httpx.get(ready_gateway + f"/admin/training-jobs/{job_id}", headers={"X-API-Key": ADMIN_KEY}).json()
    assert job["params"]["models"] == ["logreg"] and job["family"] == "classical"

    seen_states, seen_progress = set(), []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        app.run()
        rows = [m for m in _texts(app.markdown) if job_id[:8] in m]
        assert rows and "just queued" in rows[0]
        states = {
            s for s in ("queued", "running", "succeeded", "failed") if f"**{s}**" in " ".join(_texts(app.markdown))
        }
        seen_states |= states
        seen_progress += [(bar.value, bar.proto.text) for bar in app.get("progress")]
        if "succeeded" in states or "failed" in states:
            break
        time.sleep(1)
    assert "succeeded" in seen_states, (seen_states, seen_progress)
    # The bar followed the job to its end: full, with the worker's last message.
    assert seen_progress and seen_progress[-1][0] == 100 and seen_progress[-1][1], seen_progress
    assert any("[MLflow run](" in m for m in _texts(app.markdown))
