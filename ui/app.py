"""The Streamlit entry point: navigation, the API keys in the sidebar, and the gateway-down banner on every page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.components import gateway_banner, page_context, sidebar_keys

VIEWS = Path(__file__).parent / "views"

st.set_page_config(page_title="Air Paradis — tweet sentiment", page_icon="✈️", layout="wide")

navigation = st.navigation(
    [
        st.Page(VIEWS / "predict.py", title="Predict", icon="💬", default=True),
        st.Page(VIEWS / "batch.py", title="Batch", icon="📄"),
        st.Page(VIEWS / "alerts.py", title="Feedback & alerts", icon="🚩"),
        st.Page(VIEWS / "models.py", title="Models & training", icon="🧪"),
    ]
)
context = page_context()
sidebar_keys()
with st.sidebar:
    st.caption(f"Gateway: `{context.client.base_url}`")
gateway_banner(context)
navigation.run()
