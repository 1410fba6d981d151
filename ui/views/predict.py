"""Predict page: one tweet in, the gateway's label, probability and model out; a wrong answer can be flagged."""

from __future__ import annotations

import time

import streamlit as st

from shared.schemas.api import Prediction
from shared.schemas.base import MAX_TEXT_CHARS
from ui.api import ApiError
from ui.components import page_context, show_api_error
from ui.sentiment_trend import sentiment_trend_section

LAST = "predict_last"  # {"prediction": Prediction, "latency_ms": float}
FLAGGED = "predict_flagged"  # feedback answer for the last prediction
OPPOSITE = {"positive": "negative", "negative": "positive"}

context = page_context()
st.title("Predict the sentiment of a tweet")

text = st.text_area(
    "Tweet",
    key="predict_text",
    height=110,
    placeholder="@airparadis the crew were lovely and we landed early!",
)
st.caption(f"{len(text or '')} / {MAX_TEXT_CHARS} characters")

if st.button("Predict", type="primary", key="predict_button"):
    st.session_state.pop(LAST, None)
    st.session_state.pop(FLAGGED, None)
    started = time.perf_counter()
    try:
        prediction = context.client.predict(text or "")
    except ApiError as exc:
        show_api_error(exc, "predict")
    else:
        st.session_state[LAST] = {"prediction": prediction, "latency_ms": (time.perf_counter() - started) * 1000}

last = st.session_state.get(LAST)
if last:
    prediction: Prediction = last["prediction"]
    positive = prediction.label == "positive"
    label_col, details_col = st.columns([1, 2])
    with label_col:
        color, face = ("green", "sentiment_satisfied") if positive else ("red", "sentiment_dissatisfied")
        st.markdown(f"### :{color}[:material/{face}: {prediction.label}]")
        st.caption(f"prediction `{prediction.prediction_id}`")
    with details_col:
        st.progress(
            prediction.probability_positive,
            text=f'Probability of "positive": **{prediction.probability_positive:.3f}** '
            f"(positive from **{prediction.threshold:.3f}**)",
        )
        st.markdown(
            f"Model **{prediction.model_name}** version **{prediction.model_version}** · "
            f"embedding **{prediction.embedding_type}** · answered in **{last['latency_ms']:.0f} ms**"
        )

    st.divider()
    st.subheader("Is this prediction wrong?")
    correct_label = OPPOSITE[prediction.label]
    analyst = context.analyst_client()
    comment = st.text_input("Comment (optional)", key="flag_comment", max_chars=1000)
    if analyst is None:
        st.info("Enter the analyst API key in the sidebar to flag a prediction.", icon=":material/key:")
    clicked = st.button(
        f"This prediction is wrong — it is {correct_label}",
        icon=":material/flag:",
        key="flag_button",
        disabled=analyst is None,
    )
    if clicked and analyst is not None:
        try:
            st.session_state[FLAGGED] = analyst.send_feedback(prediction.prediction_id, correct_label, comment or None)
        except ApiError as exc:
            show_api_error(exc, "flag the prediction")
    flagged = st.session_state.get(FLAGGED)
    if flagged and flagged.prediction_id == prediction.prediction_id:
        st.success(
            f"Flagged as **{flagged.correct_label}** (feedback `{flagged.feedback_id}`). "
            "Three mispredictions within five minutes send an alert report.",
            icon=":material/flag:",
        )

st.divider()
sentiment_trend_section(context)
