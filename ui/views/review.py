"""Review page: the prediction log nearest the threshold first; one click confirms or corrects a prediction."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from pydantic import ValidationError

from shared.schemas.base import Label
from shared.schemas.events import FeedbackRecord
from shared.schemas.prediction_log import LoggedPrediction, Order, PredictionFilters
from ui.api import ApiError, ExportFormat, GatewayClient
from ui.components import ANALYST_KEY, escape_markdown, page_context, require_key, show_api_error

CURSORS = "review_cursors"  # the cursors of the pages before this one, and this one's (None: the first page)
FILTERS_SEEN = "review_filters_seen"  # the filters the cursors belong to: a change starts again at page one
VERDICTS = "review_verdicts"  # prediction id -> the feedback this session sent on it
EXPORT = "review_export"  # {"format", "data", "filters"} of the last prepared export
OPPOSITE: dict[Label, Label] = {"positive": "negative", "negative": "positive"}
ORDERS: dict[Order, str] = {"uncertainty": "most uncertain", "newest": "newest"}
FLAGGED_CHOICES: dict[str, bool | None] = {"any": None, "flagged wrong": True, "not flagged": False}
EXPORT_MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}

context = page_context()
st.title("Review predictions")
st.caption(
    "The logged predictions nearest their threshold come first: the likeliest to be wrong. Confirm a right one or "
    "correct a wrong one with one click; both become labelled examples for the next training run."
)


def read_filters() -> tuple[PredictionFilters | None, Order]:
    label_col, version_col, airline_col, flagged_col, order_col = st.columns([1, 1, 1, 1, 1.2])
    label = label_col.selectbox("Label", ["any", "positive", "negative"], key="review_label")
    version = version_col.text_input("Model version", key="review_model_version", placeholder="any")
    airline = airline_col.text_input("Airline", key="review_airline", placeholder="any, e.g. united")
    flagged = flagged_col.selectbox("Flagged", list(FLAGGED_CHOICES), key="review_flagged")
    order = order_col.selectbox("First", list(ORDERS), format_func=ORDERS.__getitem__, key="review_order")
    text = st.text_input("Text contains", key="review_text", max_chars=200, placeholder="e.g. delayed")
    try:
        filters = PredictionFilters(
            label=None if label == "any" else label,
            model_version=version.strip() or None,
            airline=airline.strip().lower() or None,
            flagged=FLAGGED_CHOICES[flagged],
            text_contains=text.strip() or None,
        )
    except ValidationError as exc:
        st.error(f"Check the filters: {exc.errors()[0]['msg']}", icon=":material/edit:")
        return None, order
    return filters, order


def current_cursor(filters: PredictionFilters, order: Order) -> str | None:
    seen = (filters.model_dump_json(), order)
    if st.session_state.get(FILTERS_SEEN) != seen:
        st.session_state[FILTERS_SEEN] = seen
        st.session_state[CURSORS] = [None]
    return st.session_state[CURSORS][-1]


def send_verdict(client: GatewayClient, prediction: LoggedPrediction, label: Label) -> None:
    try:
        st.session_state.setdefault(VERDICTS, {})[prediction.prediction_id] = client.send_feedback(
            prediction.prediction_id, label
        )
    except ApiError as exc:
        show_api_error(exc, "record the verdict")


def verdict_line(prediction: LoggedPrediction, sent: FeedbackRecord | None) -> str | None:
    """Who said what about this prediction: this session's verdict first (the log catches up a moment later)."""
    if sent is not None:
        label, analyst, at = sent.correct_label, sent.analyst, sent.updated_at
    elif prediction.feedback_label is not None:
        label, analyst, at = prediction.feedback_label, prediction.feedback_by or "?", prediction.feedback_at
    else:
        return None
    when = f" at {at:%Y-%m-%d %H:%M} UTC" if at else ""
    if label == prediction.label:
        return f":green[:material/check_circle:] confirmed by **{escape_markdown(analyst)}**{when}"
    return f":red[:material/flag:] flagged wrong by **{escape_markdown(analyst)}**: it is **{label}**{when}"


def show_prediction(client: GatewayClient, prediction: LoggedPrediction) -> None:
    pid = prediction.prediction_id
    with st.container(border=True, key=f"review_row_{pid}"):
        text_col, label_col, action_col = st.columns([6, 2, 3], vertical_alignment="center")
        color = "green" if prediction.label == "positive" else "red"
        label_col.markdown(f"**:{color}[{prediction.label}]**")
        threshold = f" · threshold {prediction.threshold:.3f}" if prediction.threshold is not None else ""
        label_col.caption(f"P(positive) {prediction.probability_positive:.3f}{threshold}")
        right = action_col.button(
            f"Right: {prediction.label}", key=f"review_confirm_{pid}", icon=":material/check:", width="stretch"
        )
        wrong = action_col.button(
            f"Wrong: it is {OPPOSITE[prediction.label]}",
            key=f"review_correct_{pid}",
            icon=":material/flag:",
            width="stretch",
        )
        if right or wrong:
            with action_col:
                send_verdict(client, prediction, prediction.label if right else OPPOSITE[prediction.label])
        text_col.markdown(escape_markdown(prediction.text))
        details = [
            f"{prediction.model_name} v{prediction.model_version}",
            prediction.airline or "no airline",
            f"{prediction.created_at:%Y-%m-%d %H:%M:%S} UTC",
            f"by {prediction.caller}" if prediction.caller else "anonymous caller",
            f"`{pid}`",
        ]
        text_col.caption(" · ".join(details))
        verdict = verdict_line(prediction, st.session_state.get(VERDICTS, {}).get(pid))
        if verdict:
            text_col.markdown(verdict)


def show_pager(next_cursor: str | None) -> None:
    cursors = st.session_state[CURSORS]
    previous_col, page_col, next_col = st.columns([1, 4, 1])
    if previous_col.button("Previous page", key="review_previous", disabled=len(cursors) == 1):
        cursors.pop()
        st.rerun()
    page_col.caption(f"Page {len(cursors)}")
    if next_col.button("Next page", key="review_next", disabled=next_cursor is None):
        cursors.append(next_cursor)
        st.rerun()


def show_export(admin: GatewayClient, filters: PredictionFilters) -> None:
    st.subheader("Export the log")
    st.caption("The filtered range above (every page, oldest first), for other tools. Admin only.")
    format_col, prepare_col, download_col = st.columns([2, 2, 3], vertical_alignment="bottom")
    export_format: ExportFormat = format_col.segmented_control(
        "Format", ["csv", "parquet"], default="csv", key="review_export_format", required=True
    )
    if prepare_col.button("Prepare export", key="review_export_prepare", icon=":material/download:"):
        try:
            data = admin.export_predictions(export_format, filters)
        except ApiError as exc:
            show_api_error(exc, "export the log")
            st.session_state.pop(EXPORT, None)
        else:
            st.session_state[EXPORT] = {"format": export_format, "data": data, "filters": filters}
    prepared = st.session_state.get(EXPORT)
    if prepared and prepared["filters"] == filters:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        download_col.download_button(
            f"Download {prepared['format'].upper()} ({len(prepared['data']) / 1024:,.1f} KiB)",
            prepared["data"],
            file_name=f"predictions-{stamp}.{prepared['format']}",
            mime=EXPORT_MIME[prepared["format"]],
            key="review_export_download",
            type="primary",
        )


if require_key(ANALYST_KEY):
    analyst = context.analyst_client()
    assert analyst is not None  # require_key saw a key
    filters, order = read_filters()
    if filters is None:
        st.stop()
    st.button("Refresh", key="review_refresh", icon=":material/refresh:")
    try:
        page = analyst.predictions(filters, order, current_cursor(filters, order), context.settings.review_page_size)
    except ApiError as exc:
        show_api_error(exc, "load the review queue")
        st.stop()
    if not page.predictions:
        st.info("No logged prediction matches these filters.", icon=":material/inbox:")
    for prediction in page.predictions:
        show_prediction(analyst, prediction)
    show_pager(page.next_cursor)
    admin = context.admin_client()
    if admin is not None:
        st.divider()
        show_export(admin, filters)
