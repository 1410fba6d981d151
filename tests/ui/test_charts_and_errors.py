"""Pure pieces of the UI: the alert-window counts drawn on the timeline, the error sentence taken from an answer."""

from __future__ import annotations

import httpx
import pandas as pd

from ui import charts
from ui.api import error_message


def test_rolling_counts_count_each_flag_in_the_window_ending_at_it() -> None:
    times = pd.Series(
        pd.to_datetime(["2026-01-01T10:00:00Z", "2026-01-01T10:02:00Z", "2026-01-01T10:04:59Z", "2026-01-01T10:10:00Z"])
    )
    counts = charts.rolling_counts(times, window_s=300)
    assert counts["in_window"].tolist() == [1, 2, 3, 1]


def test_rolling_counts_sort_newest_first_input() -> None:
    times = pd.Series(pd.to_datetime(["2026-01-01T10:05:01Z", "2026-01-01T10:00:00Z"]))
    assert charts.rolling_counts(times, window_s=300)["in_window"].tolist() == [1, 1]


def test_the_timeline_and_comparison_charts_build() -> None:
    times = pd.Series(pd.to_datetime(["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"]))
    assert charts.misprediction_timeline(times, 3, 300).to_dict()["layer"]
    versions = pd.DataFrame(
        [{"label": "lstm v1", "test_precision": 0.8, "test_recall": 0.7, "test_f1": 0.75, "test_roc_auc": 0.9}]
    )
    assert charts.family_comparison(versions).to_dict()["mark"]["type"] == "bar"


def _response(status: int, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", "http://gateway/predict"), **kwargs)


def test_error_message_prefers_the_gateways_message() -> None:
    body = {
        "detail": [{"loc": ["body", "text"], "msg": "too long", "type": "value_error"}],
        "message": "text: text is 1001 characters long: send at most 1000",
    }
    assert error_message(_response(422, json=body)) == "text: text is 1001 characters long: send at most 1000"


def test_error_message_falls_back_to_detail_then_text() -> None:
    assert error_message(_response(503, json={"detail": "no inference worker is running"})) == (
        "no inference worker is running"
    )
    detail = [{"loc": ["body", "params", "epochs"], "msg": "must be >= 1"}]
    assert error_message(_response(422, json={"detail": detail})) == "params.epochs: must be >= 1"
    assert error_message(_response(502, text="Bad Gateway")) == "Bad Gateway"
