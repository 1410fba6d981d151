"""Streamlit UI: a thin client of the gateway HTTP API for analysts and admins."""
