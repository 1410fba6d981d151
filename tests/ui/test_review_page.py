"""The Review page and the trend chart under AppTest, against a real gateway, inference worker and log writer."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ADMIN_KEY, ANALYST_KEY
from tests.ui.logged_stack import ANALYST, HISTORY_AIRLINES, LoggedStack, unique_marker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MakeApp = Callable[..., AppTest]
REVIEW = "views/review.py"


def _texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def _review(make_app: MakeApp, gateway: str, text: str = "", **keys: str) -> AppTest:
    app = make_app(gateway, **keys).run()
    app.switch_page(REVIEW).run()
    if text:
        app.text_input(key="review_text").input(text).run()
    return app


def _shown_ids(app: AppTest) -> list[str]:
    """The prediction ids of the rows on the page, top to bottom (each row's confirm button carries its id)."""
    prefix = "review_confirm_"
    return [button.key[len(prefix) :] for button in app.button if button.key and button.key.startswith(prefix)]


def test_the_queue_shows_the_most_uncertain_first_and_one_click_confirms_or_corrects(
    logged_stack: LoggedStack, make_app: MakeApp
) -> None:
    marker = unique_marker()
    answers = logged_stack.post_tweets(
        [
            f"@united {marker} the crew were lovely and we landed early",
            f"@delta {marker} lost my bag again, three hours on hold",
            f"@jetblue {marker} the flight was ok I guess",
            f"@united {marker} cancelled with no notice, never again",
        ]
    )
    app = _review(make_app, logged_stack.gateway_url, marker, analyst_api_key=ANALYST_KEY)
    assert not app.exception and not app.error, _texts(app.error)
    expected = [row["prediction_id"] for row in logged_stack.queue(q=marker, order="uncertainty")]
    assert _shown_ids(app) == expected and sorted(expected) == sorted(a["prediction_id"] for a in answers)
    by_id = {answer["prediction_id"]: answer for answer in answers}
    confirmed, corrected = by_id[expected[0]], by_id[expected[1]]
    opposite = {"positive": "negative", "negative": "positive"}

    app.button(key=f"review_confirm_{confirmed['prediction_id']}").click().run()
    app.button(key=f"review_correct_{corrected['prediction_id']}").click().run()
    assert not app.exception and not app.error, _texts(app.error)

    # The log holds both verdicts, by the name the analyst key carries, and GET /predictions shows them.
    confirmation = logged_stack.wait_for_verdict(confirmed["prediction_id"], confirmed["label"])
    correction = logged_stack.wait_for_verdict(corrected["prediction_id"], opposite[corrected["label"]])
    assert confirmation["is_misprediction"] is False and correction["is_misprediction"] is True
    analyst = confirmation["feedback_by"]
    assert analyst and correction["feedback_by"] == analyst
    flagged = logged_stack.queue(q=marker, flagged="true")
    assert [row["prediction_id"] for row in flagged] == [corrected["prediction_id"]]

    # A fresh session reads the verdicts from the log, with who gave them.
    fresh = _review(make_app, logged_stack.gateway_url, marker, analyst_api_key=ANALYST_KEY)
    markdown = " ".join(_texts(fresh.markdown))
    assert f"confirmed by **{analyst}**" in markdown
    assert f"flagged wrong by **{analyst}**: it is **{opposite[corrected['label']]}**" in markdown


def test_filters_narrow_the_queue(logged_stack: LoggedStack, make_app: MakeApp) -> None:
    marker = unique_marker()
    logged_stack.post_tweets([f"@united {marker} great crew, thank you", f"@delta {marker} worst delay ever"])
    app = _review(make_app, logged_stack.gateway_url, marker, analyst_api_key=ANALYST_KEY)
    assert len(_shown_ids(app)) == 2
    app.text_input(key="review_airline").input("Delta").run()
    delta = [row["prediction_id"] for row in logged_stack.queue(q=marker, airline="delta")]
    assert _shown_ids(app) == delta and len(delta) == 1
    app.text_input(key="review_airline").input("").run()
    label = logged_stack.log.get(delta[0]).label
    app.selectbox(key="review_label").set_value(label).run()
    assert set(_shown_ids(app)) == {row["prediction_id"] for row in logged_stack.queue(q=marker, label=label)}
    app.selectbox(key="review_flagged").set_value("flagged wrong").run()
    assert _shown_ids(app) == [] and "No logged prediction matches" in " ".join(_texts(app.info))


def test_pages_of_the_queue_follow_the_cursor(
    logged_stack: LoggedStack, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVIEW_PAGE_SIZE", "5")
    app = _review(make_app, logged_stack.gateway_url, "@united history tweet", analyst_api_key=ANALYST_KEY)
    first = _shown_ids(app)
    api_first = logged_stack.queue(q="@united history tweet", order="uncertainty", limit="10")
    assert first == [row["prediction_id"] for row in api_first[:5]]
    app.button(key="review_next").click().run()
    assert _shown_ids(app) == [row["prediction_id"] for row in api_first[5:10]]
    app.button(key="review_previous").click().run()
    assert _shown_ids(app) == first


def test_a_tweet_is_shown_as_typed(logged_stack: LoggedStack, make_app: MakeApp) -> None:
    marker = unique_marker()
    logged_stack.post_tweets([f"@united {marker} *not* great: $5 for water :( #fail [link](x)"])
    app = _review(make_app, logged_stack.gateway_url, marker, analyst_api_key=ANALYST_KEY)
    shown = [m for m in _texts(app.markdown) if marker in m]
    assert shown == [f"@united {marker} \\*not\\* great\\: \\$5 for water \\:\\( \\#fail \\[link\\]\\(x\\)"]


def test_the_admin_exports_the_filtered_log(logged_stack: LoggedStack, make_app: MakeApp) -> None:
    marker = unique_marker()
    answers = logged_stack.post_tweets([f"@united {marker} one", f"@delta {marker} two"])
    analyst_only = _review(make_app, logged_stack.gateway_url, marker, analyst_api_key=ANALYST_KEY)
    assert not [b for b in analyst_only.button if b.key == "review_export_prepare"]
    app = _review(make_app, logged_stack.gateway_url, marker, admin_api_key=ADMIN_KEY)
    app.button(key="review_export_prepare").click().run()
    assert not app.exception and not app.error, _texts(app.error)
    exported = pd.read_csv(io.BytesIO(app.session_state["review_export"]["data"]))
    assert sorted(exported["prediction_id"]) == sorted(a["prediction_id"] for a in answers)
    assert app.get("download_button")
    # Parquet too, read back with the same rows.
    app.segmented_control(key="review_export_format").set_value("parquet").run()
    app.button(key="review_export_prepare").click().run()
    parquet = pd.read_parquet(io.BytesIO(app.session_state["review_export"]["data"]))
    assert sorted(parquet["prediction_id"]) == sorted(exported["prediction_id"])


def test_an_analyst_key_cannot_export_and_a_wrong_key_is_a_message(
    logged_stack: LoggedStack, make_app: MakeApp
) -> None:
    app = _review(make_app, logged_stack.gateway_url, admin_api_key=ANALYST_KEY)  # an analyst key typed as admin
    app.button(key="review_export_prepare").click().run()
    assert [e for e in _texts(app.error) if e.startswith("Could not export the log: this key's role may not")]
    wrong = _review(make_app, logged_stack.gateway_url, analyst_api_key="not-a-key")
    assert not wrong.exception
    assert _texts(wrong.error) == [
        "Could not load the review queue: the gateway refused the key (401: unknown API key). Check it in the sidebar."
    ]


def _trend_data(app: AppTest) -> list[dict]:
    """The rows the trend chart draws: Streamlit ships a chart's data beside its spec, as Arrow."""
    chart = app.get("vega_lite_chart")[0].proto
    blobs = [dataset.data.data for dataset in chart.datasets] + ([chart.data.data] if chart.data.data else [])
    return [row for blob in blobs for row in pa.ipc.open_stream(blob).read_pandas().to_dict("records")]


def test_the_first_page_draws_the_positive_share_with_volume_and_flags(
    logged_stack: LoggedStack, make_app: MakeApp
) -> None:
    app = make_app(logged_stack.gateway_url, analyst_api_key=ANALYST_KEY).run()
    assert not app.exception and not app.error, _texts(app.error)
    app.selectbox(key="trend_range").set_value("last 7 days").run()
    metrics = {metric.label: metric.value for metric in app.metric}
    stats = httpx.get(
        logged_stack.gateway_url + "/stats/sentiment", params={"bucket": "hour"}, headers=ANALYST, timeout=30
    )
    assert stats.status_code == 200, stats.text
    assert int(metrics["Tweets"].replace(",", "")) >= logged_stack.history_rows * 0.95
    share_chart, volume_chart = (chart.proto.spec for chart in app.get("vega_lite_chart"))
    assert '"Positive share"' in share_chart and "the tweets flagged wrong (red)" in volume_chart
    rows = _trend_data(app)
    assert {row["series"] for row in rows} >= {"v1", "v2"}  # all tweets, one line per model version
    assert sum(row["flagged"] for row in rows) > 0 and all(0 <= row["positive_share"] <= 1 for row in rows)

    # Compared across airlines: one series per airline, each with its own share.
    app.multiselect(key="trend_airlines").set_value(list(HISTORY_AIRLINES)).run()
    assert not app.error, _texts(app.error)
    rows = _trend_data(app)
    assert {row["series"] for row in rows} == set(HISTORY_AIRLINES)
    share = {
        airline: sum(r["positive"] for r in rows if r["series"] == airline)
        / sum(r["tweets"] for r in rows if r["series"] == airline)
        for airline in HISTORY_AIRLINES
    }
    assert share["united"] < share["delta"] < share["jetblue"]


def test_the_trend_asks_for_a_key_without_one(logged_stack: LoggedStack, make_app: MakeApp) -> None:
    app = make_app(logged_stack.gateway_url).run()
    assert not app.exception and not app.get("vega_lite_chart")
    assert "analyst API key in the sidebar to see the sentiment trend" in " ".join(_texts(app.info))
