"""The Streamlit entry point: navigation, the API keys in the sidebar, and the gateway-down banner on every page."""

from __future__ import annotations

import streamlit as st

from ui.components import gateway_banner, page_context, sidebar_keys

st.set_page_config(page_title="Air Paradis — tweet sentiment", page_icon=":material/flight:", layout="wide")

navigation = st.navigation(
    [
        st.Page("views/predict.py", title="Predict", icon=":material/chat:", default=True),
        st.Page("views/batch.py", title="Batch", icon=":material/table_view:"),
        st.Page("views/review.py", title="Review", icon=":material/fact_check:"),
        st.Page("views/alerts.py", title="Feedback & alerts", icon=":material/flag:"),
        st.Page("views/models.py", title="Models & training", icon=":material/model_training:"),
    ]
)
context = page_context()
sidebar_keys()
with st.sidebar:
    st.caption(f"Gateway: `{context.client.base_url}`")
gateway_banner(context)
navigation.run()
