"""Altair charts of what the gateway answered: label split, probabilities, alert timeline, family comparison."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import pandas as pd

LABEL_COLORS = alt.Scale(domain=["negative", "positive"], range=["#d62728", "#2ca02c"])
CHART_HEIGHT = 240
# Each version's test figures at its own operating point (the threshold chosen for the target precision), then the
# threshold-free ones; recall at the target precision is what promotion compares.
METRICS = {
    "test_threshold": "threshold",
    "test_precision": "P at threshold",
    "test_recall": "R at threshold",
    "test_recall_at_target_precision": "recall at target P",
    "test_roc_auc": "ROC AUC",
    "test_pr_auc": "PR AUC",
}


def label_split(results: pd.DataFrame) -> alt.Chart:
    counts = results["label"].value_counts().rename_axis("label").reset_index(name="tweets")
    return (
        alt.Chart(counts, title="Label split")
        .mark_bar()
        .encode(
            x=alt.X("label:N", title=None, sort=["negative", "positive"], axis=alt.Axis(labelAngle=0)),
            y=alt.Y("tweets:Q", title="tweets"),
            color=alt.Color("label:N", scale=LABEL_COLORS, legend=None),
            tooltip=["label", "tweets"],
        )
        .properties(height=CHART_HEIGHT)
    )


def probability_histogram(results: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(results[["probability_positive", "label"]], title='Probability of "positive"')
        .mark_bar()
        .encode(
            x=alt.X("probability_positive:Q", bin=alt.Bin(extent=[0, 1], step=0.05), title="probability positive"),
            y=alt.Y("count():Q", title="tweets"),
            color=alt.Color("label:N", scale=LABEL_COLORS),
        )
        .properties(height=CHART_HEIGHT)
    )


def rolling_counts(times: pd.Series, window_s: float) -> pd.DataFrame:
    """For each misprediction, how many fell within the `window_s` seconds ending at it (itself included)."""
    ordered = pd.to_datetime(times, utc=True).sort_values().reset_index(drop=True)
    window = timedelta(seconds=window_s)
    counts = [int(((ordered > at - window) & (ordered <= at)).sum()) for at in ordered]
    return pd.DataFrame({"occurred_at": ordered, "in_window": counts})


def misprediction_timeline(times: pd.Series, threshold: int, window_s: float) -> alt.LayerChart:
    """Each misprediction as a point at its count over the trailing window, with the alert rule as a line."""
    data = rolling_counts(times, window_s)
    minutes = f"{window_s / 60:g} min"
    base = alt.Chart(data).encode(
        # Drawn in UTC whatever the browser's time zone, like the tables and the alert emails.
        # Vega picks the tick format from the span (seconds to days).
        x=alt.X("occurred_at:T", title="flagged at (UTC)", scale=alt.Scale(type="utc")),
        y=alt.Y(
            "in_window:Q",
            title=f"mispredictions in the last {minutes}",
            scale=alt.Scale(domainMin=0, domainMax=max(threshold + 1, int(data["in_window"].max() or 0) + 1)),
        ),
    )
    steps = base.mark_line(interpolate="step-after", color="#888")
    points = base.mark_circle(size=80).encode(
        color=alt.condition(alt.datum.in_window >= threshold, alt.value("#d62728"), alt.value("#1f77b4")),
        tooltip=[
            alt.Tooltip("utcyearmonthdatehoursminutesseconds(occurred_at):T", title="flagged at (UTC)"),
            "in_window:Q",
        ],
    )
    rule_data = pd.DataFrame({"threshold": [threshold], "label": [f"alert: {threshold} in {minutes}"]})
    rule = alt.Chart(rule_data).mark_rule(color="#d62728", strokeDash=[6, 4]).encode(y="threshold:Q")
    rule_label = (
        alt.Chart(rule_data)
        .mark_text(align="left", dx=4, dy=-8, color="#d62728")
        .encode(y="threshold:Q", text="label:N", x=alt.value(0))
    )
    return alt.layer(steps, points, rule, rule_label).properties(height=260)


def family_comparison(versions: pd.DataFrame) -> alt.Chart:
    """Grouped bars: one group per metric, one bar per compared version (`label` column)."""
    # The threshold is a setting of the version, not a score: it stays in the table, out of the bars.
    present = [m for m in METRICS if m in versions.columns and m != "test_threshold"]
    long = versions.melt(id_vars=["label"], value_vars=present, var_name="metric", value_name="value").dropna()
    long["metric"] = long["metric"].map(METRICS)
    return (
        alt.Chart(long, title="Test metrics by family")
        .mark_bar()
        .encode(
            x=alt.X("metric:N", title=None, sort=list(METRICS.values()), axis=alt.Axis(labelAngle=0)),
            xOffset="label:N",
            y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("label:N", title="model", scale=alt.Scale(scheme="tableau10")),
            tooltip=["label", "metric", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(height=280)
    )


TREND_SHARE_HEIGHT = 320
TREND_VOLUME_HEIGHT = 240
# Bars and points span their bucket's time unit (bars on a plain time axis would be one pixel wide).
TREND_TIME_UNITS = {"hour": "utcyearmonthdatehours", "day": "utcyearmonthdate"}


def _trend_encodings(trend: pd.DataFrame, series_title: str, bucket: str) -> tuple[alt.X, alt.Tooltip, alt.Color]:
    """The x of the bars (each spans its bucket), the bucket's tooltip and the series' colour."""
    time_unit = TREND_TIME_UNITS[bucket]
    x = alt.X("bucket:T", timeUnit=time_unit, title="time (UTC)", scale=alt.Scale(type="utc"))
    bucket_tooltip = alt.Tooltip("bucket:T", timeUnit=time_unit, title=f"{bucket} (UTC)")
    # One domain for both charts, so that a series has the same colour above and below.
    domain = sorted(trend["series"].unique())
    color = alt.Color("series:N", title=series_title, scale=alt.Scale(domain=domain, scheme="tableau10"))
    return x, bucket_tooltip, color


def positive_share_trend(trend: pd.DataFrame, series_title: str, bucket: str) -> alt.Chart:
    """The positive share per bucket ("hour" or "day"), one line per series (airline or model version); `trend` has
    the columns bucket, series, tweets, positive_share, flagged."""
    x, bucket_tooltip, color = _trend_encodings(trend, series_title, bucket)
    return (
        alt.Chart(trend, title="Positive share")
        .mark_line(point=True)
        .encode(
            x=x.bandPosition(0.5),  # mid-bucket, over the middle of its bar below
            y=alt.Y(
                "positive_share:Q", title="positive share", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")
            ),
            color=color.legend(orient="right"),
            tooltip=[
                bucket_tooltip,
                alt.Tooltip("series:N", title=series_title),
                alt.Tooltip("positive_share:Q", title="positive", format=".0%"),
                alt.Tooltip("tweets:Q", title="tweets"),
            ],
        )
        .properties(height=TREND_SHARE_HEIGHT)
    )


def volume_trend(trend: pd.DataFrame, series_title: str, bucket: str) -> alt.LayerChart:
    """Tweets per bucket stacked by series, with the tweets analysts flagged wrong as red dots on their own axis."""
    x, bucket_tooltip, color = _trend_encodings(trend, series_title, bucket)
    volume = (
        alt.Chart(trend)
        .mark_bar(opacity=0.6)
        .encode(
            x=x,
            y=alt.Y("sum(tweets):Q", title="tweets"),
            color=color.legend(orient="right"),
            tooltip=[bucket_tooltip, alt.Tooltip("series:N", title=series_title), "tweets:Q", "flagged:Q"],
        )
    )
    flagged = (
        alt.Chart(trend)
        .mark_line(point=alt.OverlayMarkDef(size=60, filled=True, color="#d62728"), color="#d62728", strokeDash=[4, 3])
        .encode(
            x=x.bandPosition(0.5),
            y=alt.Y(
                "sum(flagged):Q",
                title="flagged wrong",
                axis=alt.Axis(orient="right", titleColor="#d62728", labelColor="#d62728"),
            ),
            tooltip=[bucket_tooltip, alt.Tooltip("sum(flagged):Q", title="flagged wrong")],
        )
    )
    return (
        alt.layer(volume, flagged, title="Volume, and the tweets flagged wrong (red)")
        .resolve_scale(y="independent")
        .properties(height=TREND_VOLUME_HEIGHT)
    )
