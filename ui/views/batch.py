"""Batch page: score a CSV or pasted tweets through /predict/batch in chunks, then chart and download the results."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import charts
from ui.api import ApiError
from ui.batch_input import BatchInput, BatchInputError, chunks, parse_csv, parse_lines
from ui.components import page_context, show_api_error

RESULTS = "batch_results"

context = page_context()
settings = context.settings
st.title("Score many tweets")

upload_tab, paste_tab = st.tabs(["Upload a CSV", "Paste tweets"])
with upload_tab:
    uploaded = st.file_uploader(
        "CSV with a `text` column, or Sentiment140's six columns (target,id,date,flag,user,text)",
        type=["csv"],
        key="batch_file",
    )
with paste_tab:
    pasted = st.text_area("One tweet per line", key="batch_paste", height=160)

if st.button("Score", type="primary", key="batch_button"):
    st.session_state.pop(RESULTS, None)
    batch: BatchInput | None = None
    try:
        if uploaded is not None:
            batch = parse_csv(uploaded.getvalue(), settings.batch_max_rows)
        else:
            batch = parse_lines(pasted or "", settings.batch_max_rows)
    except BatchInputError as exc:
        st.error(f"Nothing sent: {exc}", icon=":material/edit:")
    if batch is not None:
        predictions = []
        total = len(batch.texts)
        progress = st.progress(0.0, text=f"0 / {total} tweets scored")
        try:
            for chunk in chunks(batch.texts, settings.batch_chunk_size):
                predictions.extend(context.client.predict_batch(chunk))
                progress.progress(len(predictions) / total, text=f"{len(predictions)} / {total} tweets scored")
        except ApiError as exc:
            failed_from = len(predictions) + 1
            failed_to = min(total, len(predictions) + settings.batch_chunk_size)
            show_api_error(exc, f"score tweets {failed_from}–{failed_to}")
        if predictions:
            scored = len(predictions)
            st.session_state[RESULTS] = {
                "frame": pd.DataFrame(
                    {
                        "row": batch.rows[:scored],
                        "text": batch.texts[:scored],
                        "label": [p.label for p in predictions],
                        "probability_positive": [p.probability_positive for p in predictions],
                        "model_version": [p.model_version for p in predictions],
                        "prediction_id": [p.prediction_id for p in predictions],
                    }
                ),
                "skipped": batch.skipped,
                "total": total,
            }

results = st.session_state.get(RESULTS)
if results:
    frame: pd.DataFrame = results["frame"]
    if len(frame) < results["total"]:
        st.warning(f"Only {len(frame)} of {results['total']} tweets were scored: send the rest again.")
    else:
        st.success(f"{len(frame)} tweets scored.")
    if results["skipped"]:
        with st.expander(f"{len(results['skipped'])} rows left out (the gateway would refuse them)"):
            st.dataframe(pd.DataFrame([{"row": s.row, "why": s.reason} for s in results["skipped"]]), hide_index=True)
    split_col, hist_col = st.columns(2)
    split_col.altair_chart(charts.label_split(frame), width="stretch")
    hist_col.altair_chart(charts.probability_histogram(frame), width="stretch")
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "probability_positive": st.column_config.ProgressColumn(
                "probability positive", min_value=0.0, max_value=1.0, format="%.3f"
            ),
        },
        key="batch_table",
    )
    st.download_button(
        "Download results (CSV)",
        frame.to_csv(index=False).encode(),
        file_name="predictions.csv",
        mime="text/csv",
        key="batch_download",
    )
