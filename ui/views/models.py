"""Models & training page (admin): registered versions, family comparison, evaluation plots, training jobs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from shared.families import FAMILIES
from shared.schemas.api import JobState, ModelsOverview, RegisteredVersion, TrainingJob
from ui import charts
from ui.api import ApiError, GatewayClient
from ui.artifacts import EVALUATION_PLOTS, ArtifactUnavailable, fetch_run_artifact
from ui.components import ANALYST_KEY, fetched, page_context, require_key, show_api_error
from ui.drift_view import show_drift
from ui.lifecycle_view import show_lifecycle
from ui.params_form import params_form
from ui.retraining_view import show_retraining_policy

QUEUED_JOB = "models_queued_job"
CANCEL_OUTCOME = "models_cancel_outcome"
ACTIVE_STATES = (JobState.queued, JobState.running)
JOB_STATE_BADGES = {
    "queued": ":gray[:material/schedule:]",
    "running": ":blue[:material/directions_run:]",
    "succeeded": ":green[:material/check_circle:]",
    "failed": ":red[:material/error:]",
    "cancelled": ":orange[:material/cancel:]",
}
SERVING = "★ serving"  # a dataframe cell: plain text, drawn by any font
SERVING_ROW_STYLE = "background-color: rgba(255, 204, 0, 0.25); font-weight: 600"

context = page_context()
settings = context.settings
mlflow_base = settings.mlflow_link_base
st.title("Models & training")


def run_link(run_id: str | None) -> str | None:
    return f"{mlflow_base}/#/runs/{run_id}" if run_id else None


@st.cache_data(ttl=600, show_spinner=False)
def plot_bytes(tracking_uri: str, run_id: str, path: str) -> bytes:
    # A run's artifacts never change once logged: safe to keep for a while.
    return fetch_run_artifact(tracking_uri, run_id, path, settings.mlflow_http_timeout_s)


def versions_frame(overview: ModelsOverview) -> pd.DataFrame:
    rows = []
    for info in overview.versions:
        rows.append(
            {
                "": SERVING if info.serving else ("champion" if info.is_champion else ""),
                "family": info.family or info.tags.get("family", ""),
                "model": info.name,
                "version": info.version,
                "embedding": info.tags.get("embedding_type", ""),
                "aliases": ", ".join(info.aliases),
                **{label: info.metrics.get(metric) for metric, label in charts.METRICS.items()},
                "accuracy": info.metrics.get("test_accuracy"),
                "created": info.created_at,
                "run": run_link(info.run_id),
            }
        )
    return pd.DataFrame(rows)


def show_versions(client: GatewayClient) -> list[RegisteredVersion]:
    overview = fetched(client.models, "list the registered models")
    if overview is None:
        return []
    st.subheader("Registered versions")
    if overview.serving_version:
        st.caption(
            f"Inference serves **{overview.serving_model}** version **{overview.serving_version}** (highlighted)."
        )
    if not overview.versions:
        st.info("No model is registered yet: queue a training job below.")
        return []
    frame = versions_frame(overview)
    styled = frame.style.apply(
        lambda row: [SERVING_ROW_STYLE if row[""] == SERVING else "" for _ in row], axis=1
    ).format({label: "{:.3f}" for label in [*charts.METRICS.values(), "accuracy"]}, na_rep="")
    st.dataframe(
        styled,
        hide_index=True,
        column_config={"run": st.column_config.LinkColumn("MLflow run", display_text="open run")},
        key="models_versions",
    )
    return overview.versions


def show_comparison(versions: list[RegisteredVersion]) -> None:
    st.subheader("Families compared")
    labels = {f"{v.family or v.name} v{v.version}": v for v in versions}
    champions = [label for label, v in labels.items() if v.is_champion] or list(labels)[:4]
    chosen = st.multiselect("Versions to compare", list(labels), default=champions, key="models_compare")
    rows = [
        {"label": label, **{m: labels[label].metrics.get(m) for m in charts.METRICS}}
        for label in chosen
        if any(labels[label].metrics.get(m) is not None for m in charts.METRICS)
    ]
    if rows:
        st.altair_chart(charts.family_comparison(pd.DataFrame(rows)), width="stretch")
    else:
        st.caption("The chosen versions have no test metrics.")


def show_plots(versions: list[RegisteredVersion]) -> None:
    st.subheader("Evaluation plots")
    with_runs = {f"{v.name} v{v.version}" + (f" ({', '.join(v.aliases)})" if v.aliases else ""): v for v in versions}
    with_runs = {label: v for label, v in with_runs.items() if v.run_id}
    if not with_runs:
        st.caption("No version has an MLflow run to read plots from.")
        return
    choice = st.selectbox("Version", list(with_runs), key="models_plots_version")
    version = with_runs[choice]
    columns = st.columns(len(EVALUATION_PLOTS))
    for column, (title, path) in zip(columns, EVALUATION_PLOTS.items(), strict=True):
        with column:
            try:
                st.image(plot_bytes(settings.mlflow_tracking_uri, version.run_id, path), caption=title)
            except ArtifactUnavailable as exc:
                st.warning(f"{title}: {exc}")
    st.link_button("Open the run in MLflow", run_link(version.run_id) or mlflow_base)


@st.fragment
def queue_form(client: GatewayClient) -> None:
    # A fragment: editing a parameter re-validates the form without reloading the tables above.
    st.subheader("Queue a training job")
    family = st.segmented_control("Family", list(FAMILIES), default="lstm", key="train_family") or "lstm"
    form = params_form(family)
    for message in form.general_errors:
        st.error(message, icon=":material/edit:")
    sending = {"family": family, "params": form.changed}
    st.caption(f"Sends `{sending}` (parameters left at their defaults are not sent).")
    if st.button("Queue job", type="primary", disabled=not form.valid, key="train_queue"):
        try:
            job = client.queue_training_job(family, form.changed)
        except ApiError as exc:
            show_api_error(exc, "queue the job")
        else:
            st.session_state[QUEUED_JOB] = job.job_id
            st.rerun()  # the whole page: the job list starts refreshing itself
    if not form.valid:
        st.caption("Fix the fields marked above to queue the job.")


def cancel_job(client: GatewayClient, job: TrainingJob) -> None:
    # A button callback: it only records the outcome, which the job list shows when it is drawn again.
    try:
        cancelled = client.cancel_training_job(job.job_id)
    except ApiError as exc:
        st.session_state[CANCEL_OUTCOME] = (job.job_id, exc)
    else:
        st.session_state[CANCEL_OUTCOME] = (cancelled.job_id, None)


def show_cancel_outcome() -> None:
    outcome = st.session_state.pop(CANCEL_OUTCOME, None)
    if outcome is None:
        return
    job_id, error = outcome
    if error is None:
        st.success(f"Cancelled job `{job_id[:8]}`.", icon=":material/cancel:")
    else:
        show_api_error(error, f"cancel job {job_id[:8]}")


def job_row(client: GatewayClient, job: TrainingJob) -> None:
    with st.container(border=True):
        head, state, progress = st.columns([2, 1, 3])
        new = " · just queued" if job.job_id == st.session_state.get(QUEUED_JOB) else ""
        head.markdown(f"**{job.family}** `{job.job_id[:8]}`{new}")
        head.caption(f"created {job.created_at:%Y-%m-%d %H:%M:%S} UTC" + trigger_text(job))
        state.markdown(JOB_STATE_BADGES[job.state.value] + f" **{job.state.value}**")
        if job.state in ACTIVE_STATES:
            state.button(
                "Cancel",
                key=f"job_cancel_{job.job_id}",
                icon=":material/cancel:",
                help="Stop this job: a queued one never starts, a running one's worker is stopped and freed.",
                on_click=cancel_job,
                args=(client, job),
            )
        fraction = job.progress_current / job.progress_total if job.progress_total else 0.0
        if job.state == JobState.succeeded:
            fraction = 1.0
        text = job.progress_message or f"{job.progress_current} / {job.progress_total}"
        progress.progress(min(max(fraction, 0.0), 1.0), text=text)
        details = []
        if "test_precision" in job.metrics:
            details.append(operating_point_text(job.metrics))
        if job.model_version:
            details.append(f"{job.model_name} v{job.model_version}" + (" — **promoted**" if job.promoted else ""))
        if job.mlflow_run_id:
            details.append(f"[MLflow run]({run_link(job.mlflow_run_id)})")
        if details:
            progress.markdown(" · ".join(details))
        if job.promotion:
            progress.caption(f"Promotion: {job.promotion.get('reason', '')}")
        if job.error:
            st.error(job.error)


def trigger_text(job: TrainingJob) -> str:
    trigger = job.triggered_by
    if trigger is None:
        return ""
    if trigger.kind == "alert":
        return f" · queued by alert report `{(trigger.report_id or '')[:8]}`"
    return f" · queued by {trigger.by}"


def operating_point_text(metrics: dict[str, float]) -> str:
    """Test figures at the version's own threshold, and the figure promotion compares."""
    parts = [f"precision **{metrics['test_precision']:.3f}**"]
    if "test_threshold" in metrics:
        parts = [
            f"threshold {metrics['test_threshold']:.3f}: precision **{metrics['test_precision']:.3f}**, "
            f"recall {metrics.get('test_recall', 0.0):.3f}",
            f"recall at target precision **{metrics.get('test_recall_at_target_precision', 0.0):.3f}**",
            f"ROC AUC {metrics.get('test_roc_auc', 0.0):.3f}",
        ]
    return " · ".join(parts)


def show_jobs(client: GatewayClient) -> None:
    jobs = fetched(client.training_jobs, "list the training jobs")
    if jobs is None:
        return
    active = [job for job in jobs if job.state in ACTIVE_STATES]
    st.caption(
        f"{len(active)} active, {len(jobs)} in all"
        + (f"; refreshing every {settings.jobs_refresh_s:g} s" if active else "")
    )
    show_cancel_outcome()
    if not jobs:
        st.info("No training job yet.")
    for job in jobs[:15]:
        job_row(client, job)


if require_key(ANALYST_KEY, needs="the admin API key (an analyst key shows the registered models only)"):
    # Reading the registry is an analyst's right too; queueing and following training is the admin's.
    reader = context.analyst_client()
    assert reader is not None  # require_key saw a key
    versions = show_versions(reader)
    show_lifecycle(reader, context.admin_client())
    if versions:
        show_comparison(versions)
        show_plots(versions)
    show_drift(reader)
    admin = context.admin_client()
    if admin is None:
        st.warning(
            "Queueing and following training jobs needs the admin API key: enter it in the sidebar.",
            icon=":material/key:",
        )
    else:
        show_retraining_policy(admin)
        queue_form(admin)
        st.subheader("Training jobs")
        try:
            any_active = any(job.state in ACTIVE_STATES for job in admin.training_jobs())
        except ApiError:
            any_active = False
        # Poll only while something can still change.
        st.fragment(run_every=settings.jobs_refresh_s if any_active else None)(show_jobs)(admin)
