"""The drift section of the Models & training page: each served version's live statistics beside its test split's."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from shared.schemas.drift import DriftStats
from ui.api import GatewayClient
from ui.components import fetched


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def statistics_frame(stats: DriftStats) -> pd.DataFrame:
    reference = stats.reference
    rows = [
        ("Out-of-vocabulary tokens", _share(stats.oov_share), _share(reference.oov_share if reference else None)),
        ("Labelled positive", _share(stats.positive_share), _share(reference.positive_share if reference else None)),
        (
            "Mean tweet length (chars)",
            "—" if stats.mean_text_chars is None else f"{stats.mean_text_chars:.1f}",
            f"{reference.mean_text_chars:.1f}" if reference else "—",
        ),
    ]
    return pd.DataFrame(rows, columns=["statistic", "live", "test split"])


def histogram_frame(stats: DriftStats) -> pd.DataFrame:
    count = len(stats.probability_histogram)
    reference: list[float | None] = [None] * count
    if stats.reference and len(stats.reference.probability_histogram) == count:
        reference = list(stats.reference.probability_histogram)
    return pd.DataFrame(
        {
            "probability_positive": [f"{i / count:.1f}–{(i + 1) / count:.1f}" for i in range(count)],
            "live": stats.probability_histogram,
            "test split": reference,
        }
    )


def show_version(stats: DriftStats) -> None:
    with st.container(border=True):
        st.markdown(f"**{stats.model_name}** v{stats.model_version}")
        psi, served = st.columns(2)
        psi.metric(
            "PSI of probability_positive",
            "—" if stats.psi is None else f"{stats.psi:.3f}",
            help="Population stability index against the version's test split; above 0.25 is a major shift. "
            "Versions trained before the reference was saved with the model show none.",
        )
        served.metric(
            "Tweets in the window",
            stats.predictions,
            help=f"Answered within the last {stats.window_s / 60:g} min by {stats.workers} worker(s).",
        )
        st.dataframe(statistics_frame(stats), hide_index=True)
        frame = histogram_frame(stats)
        st.bar_chart(frame, x="probability_positive", y=["live", "test split"], stack=False, height=220)


def show_drift(client: GatewayClient) -> None:
    st.subheader("Drift of served traffic")
    overview = fetched(client.drift, "read the drift statistics")
    if overview is None:
        return
    if not overview.versions:
        st.info("No tweet was answered within the inference workers' drift window yet.")
        return
    for stats in overview.versions:
        show_version(stats)
