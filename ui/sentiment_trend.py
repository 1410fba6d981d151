"""The sentiment trend of the first page: positive share over time with volume and flags, per airline or version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from shared.schemas.prediction_log import Bucket, SentimentStats
from ui import charts
from ui.api import ApiError, GatewayClient
from ui.components import PageContext, show_api_error

ALL_TWEETS = "all tweets"
RANGES: dict[str, tuple[timedelta, Bucket]] = {
    "last 24 hours": (timedelta(hours=24), "hour"),
    "last 7 days": (timedelta(days=7), "day"),
    "last 30 days": (timedelta(days=30), "day"),
}
TREND_COLUMNS = ["bucket", "series", "tweets", "positive", "positive_share", "flagged"]


def trend_frame(stats_by_series: dict[str, SentimentStats], by_version: bool) -> pd.DataFrame:
    """One row per bucket and series: the series is the airline (model versions summed), or with `by_version`,
    each model version of the one series asked for."""
    rows = [
        {
            "bucket": bucket.bucket_start,
            "series": f"v{bucket.model_version}" if by_version else series,
            "tweets": bucket.count,
            "positive": bucket.positive,
            "flagged": bucket.flagged,
        }
        for series, stats in stats_by_series.items()
        for bucket in stats.buckets
    ]
    if not rows:
        return pd.DataFrame(columns=TREND_COLUMNS)
    frame = pd.DataFrame(rows).groupby(["bucket", "series"], as_index=False)[["tweets", "positive", "flagged"]].sum()
    frame["positive_share"] = frame["positive"] / frame["tweets"]
    return frame[TREND_COLUMNS].sort_values(["bucket", "series"], ignore_index=True)


def fetch_trend(
    client: GatewayClient, airlines: list[str], span: timedelta, bucket: Bucket, now: datetime
) -> dict[str, SentimentStats]:
    """One call per airline compared (the gateway filters by one airline at a time); all tweets without any."""
    created_from = now - span
    if not airlines:
        return {ALL_TWEETS: client.sentiment_stats(bucket, created_from, now)}
    return {airline: client.sentiment_stats(bucket, created_from, now, airline) for airline in airlines}


def sentiment_trend_section(context: PageContext) -> None:
    st.subheader("Sentiment over time")
    client = context.analyst_client()
    if client is None:
        st.info("Enter the analyst API key in the sidebar to see the sentiment trend.", icon=":material/key:")
        return
    range_col, airlines_col = st.columns([1, 3])
    range_name = range_col.selectbox("Range", list(RANGES), key="trend_range")
    airlines = airlines_col.multiselect(
        "Compare airlines",
        options=context.settings.trend_airlines,
        key="trend_airlines",
        accept_new_options=True,
        placeholder="all tweets together, split by model version",
    )
    span, bucket = RANGES[range_name]
    # The end is the next bucket boundary, so the current hour or day is drawn whole and stays put on reruns.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if bucket == "day":
        now = now.replace(hour=0) + timedelta(days=1)
    try:
        stats = fetch_trend(client, [a.strip().lower() for a in airlines if a.strip()], span, bucket, now)
    except ApiError as exc:
        show_api_error(exc, "load the sentiment trend")
        return
    by_version = not airlines
    trend = trend_frame(stats, by_version)
    if trend.empty:
        st.info("No logged prediction in this range yet.", icon=":material/insights:")
        return
    tweets, flagged = int(trend["tweets"].sum()), int(trend["flagged"].sum())
    tweets_col, share_col, flagged_col, rate_col = st.columns(4)
    tweets_col.metric("Tweets", f"{tweets:,}")
    share_col.metric("Positive share", f"{trend['positive'].sum() / tweets:.0%}")
    flagged_col.metric("Flagged wrong", f"{flagged:,}")
    rate_col.metric("Flag rate", f"{flagged / tweets:.1%}")
    series_title = "model version" if by_version else "airline"
    st.altair_chart(charts.positive_share_trend(trend, series_title, bucket), width="stretch", key="trend_share")
    st.altair_chart(charts.volume_trend(trend, series_title, bucket), width="stretch", key="trend_volume")
    st.caption(f"Per {bucket} (UTC), {range_name}.")
