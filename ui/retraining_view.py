"""The retraining policy section of the Models & training page (admin): what a report would do, pause, resume."""

from __future__ import annotations

import streamlit as st

from shared.schemas.retraining import RetrainingPolicyView
from ui.api import ApiError, GatewayClient
from ui.components import fetched, show_api_error

POLICY_OUTCOME = "retraining_policy_outcome"


def policy_text(view: RetrainingPolicyView) -> str:
    policy = view.policy
    if policy is None:
        return "No alerting process is running, so no report can queue a job now."
    if not policy.enabled:
        return "**Off** (`RETRAINING_POLICY=off`): reports never queue a training job."
    every = f"{policy.min_interval_h:g} h"
    return (
        f"**On**: a misprediction report queues one **{policy.family}** job with the analysts' corrections, at most "
        f"one per {every}, once **{policy.min_new_corrections}** new corrections came in. Params: `{policy.params}`."
    )


def _set_paused(client: GatewayClient, paused: bool) -> None:
    # A button callback: it records the outcome, shown when the section is drawn again.
    try:
        client.set_retraining_paused(paused)
    except ApiError as exc:
        st.session_state[POLICY_OUTCOME] = exc
    else:
        st.session_state[POLICY_OUTCOME] = "paused" if paused else "resumed"


def show_retraining_policy(client: GatewayClient) -> None:
    st.subheader("Automatic retraining")
    outcome = st.session_state.pop(POLICY_OUTCOME, None)
    if isinstance(outcome, ApiError):
        show_api_error(outcome, "change the retraining policy")
    elif outcome:
        st.success(f"Automatic retraining {outcome}.", icon=":material/autorenew:")
    view = fetched(client.retraining_policy, "read the retraining policy")
    if view is None:
        return
    st.markdown(policy_text(view))
    left, right = st.columns([3, 1])
    if view.paused:
        since = f" at {view.paused_at:%Y-%m-%d %H:%M} UTC" if view.paused_at else ""
        left.warning(
            f"Paused by {view.paused_by or 'an admin'}{since}: reports queue nothing.", icon=":material/pause:"
        )
        right.button(
            "Resume", key="retraining_resume", icon=":material/play_arrow:", on_click=_set_paused, args=(client, False)
        )
    else:
        left.caption("Running: the next report that meets the policy queues a job.")
        right.button(
            "Pause", key="retraining_pause", icon=":material/pause:", on_click=_set_paused, args=(client, True)
        )
    facts = [f"{view.new_corrections} new correction(s) since the last automatic job"]
    if view.last_automatic_job:
        job = view.last_automatic_job
        facts.append(
            f"last automatic job `{job.job_id[:8]}` ({job.family}) at {job.queued_at:%Y-%m-%d %H:%M} UTC, "
            f"for report `{job.report_id[:8]}`"
        )
    if view.next_possible_at:
        facts.append(f"next possible from {view.next_possible_at:%Y-%m-%d %H:%M} UTC")
    st.caption(" · ".join(facts))
