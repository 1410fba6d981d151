"""The trend's rows from /stats/sentiment answers: per airline with versions summed, or per model version."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.schemas.prediction_log import SentimentBucket, SentimentStats
from ui import charts
from ui.sentiment_trend import trend_frame

TEN, ELEVEN = datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 2, 11, tzinfo=UTC)


def _bucket(start: datetime, version: str, count: int, positive: int, flagged: int = 0) -> SentimentBucket:
    return SentimentBucket(
        bucket_start=start,
        model_version=version,
        count=count,
        positive=positive,
        positive_share=positive / count,
        flagged=flagged,
        flag_rate=flagged / count,
    )


def _stats(*buckets: SentimentBucket, airline: str | None = None) -> SentimentStats:
    return SentimentStats(bucket="hour", created_from=TEN, created_to=ELEVEN, airline=airline, buckets=list(buckets))


def test_an_airline_series_sums_its_model_versions() -> None:
    # A promotion at 10:xx: both versions answered in that hour.
    united = _stats(
        _bucket(TEN, "3", 10, 2, 1), _bucket(TEN, "4", 30, 18), _bucket(ELEVEN, "4", 5, 5), airline="united"
    )
    delta = _stats(_bucket(TEN, "4", 4, 1, 2), airline="delta")
    frame = trend_frame({"united": united, "delta": delta}, by_version=False)
    assert frame.to_dict("records") == [
        {"bucket": TEN, "series": "delta", "tweets": 4, "positive": 1, "positive_share": 0.25, "flagged": 2},
        {"bucket": TEN, "series": "united", "tweets": 40, "positive": 20, "positive_share": 0.5, "flagged": 1},
        {"bucket": ELEVEN, "series": "united", "tweets": 5, "positive": 5, "positive_share": 1.0, "flagged": 0},
    ]


def test_all_tweets_split_by_model_version() -> None:
    stats = _stats(_bucket(TEN, "3", 10, 2), _bucket(TEN, "4", 30, 18))
    frame = trend_frame({"all tweets": stats}, by_version=True)
    assert frame["series"].tolist() == ["v3", "v4"] and frame["positive_share"].tolist() == [0.2, 0.6]


def test_no_bucket_is_an_empty_frame_and_the_charts_build() -> None:
    assert trend_frame({"all tweets": _stats()}, by_version=True).empty
    frame = trend_frame({"united": _stats(_bucket(TEN, "4", 4, 1, 2))}, by_version=False)
    share = charts.positive_share_trend(frame, "airline", "hour").to_dict()
    assert share["mark"]["type"] == "line" and share["encoding"]["x"]["timeUnit"] == "utcyearmonthdatehours"
    volume = charts.volume_trend(frame, "airline", "day").to_dict()
    assert [layer["mark"]["type"] for layer in volume["layer"]] == ["bar", "line"]
    assert volume["layer"][0]["encoding"]["x"]["timeUnit"] == "utcyearmonthdate"


def test_the_airlines_offered_are_keys_of_the_logs_airline_column() -> None:
    from shared.prediction_log.airlines import AIRLINES
    from ui.settings import UiSettings

    assert set(UiSettings().trend_airlines) <= set(AIRLINES)
