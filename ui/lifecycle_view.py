"""The Models page's lifecycle panel: the challenger's live figures beside the champion's, the gate's verdict, the
promote/retire/rollback buttons for admins, and the served model's history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from shared.schemas.lifecycle import ChallengerStatus, ModelFiguresLive, ModelHistory
from ui.api import ApiError, GatewayClient
from ui.components import fetched

MOVE_OUTCOME = "models_move_outcome"
MOVES = {"promote": "Promote the challenger", "retire": "Retire the challenger", "rollback": "Roll back the champion"}


def _figure(value: float | None, digits: int = 3, unit: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def figures_frame(status: ChallengerStatus) -> pd.DataFrame:
    """One row per model: what each did on the same shadow-scored calls."""
    figures = status.figures
    rows = []
    for role, version in (("champion", status.champion_version), ("challenger", status.challenger_version)):
        live: ModelFiguresLive | None = getattr(figures, role) if figures else None
        rows.append(
            {
                "model": role,
                "version": version or "",
                "latency p50": _figure(live.latency_p50_ms if live else None, 2, " ms"),
                "latency p99": _figure(live.latency_p99_ms if live else None, 2, " ms"),
                "labelled": live.labelled if live else 0,
                "live precision": _figure(live.precision if live else None),
                "live recall": _figure(live.recall if live else None),
            }
        )
    return pd.DataFrame(rows)


def history_frame(history: ModelHistory) -> pd.DataFrame:
    rows = [
        {
            "when": f"{event.at:%Y-%m-%d %H:%M:%S}",
            "action": event.action,
            "from": event.from_version or "",
            "to": event.to_version or "",
            "by": f"{event.actor.kind}: {event.actor.name}",
            "reason": event.reason,
        }
        for event in history.events
    ]
    return pd.DataFrame(rows, columns=["when", "action", "from", "to", "by", "reason"])


def _move(admin: GatewayClient, name: str, action: str) -> None:
    try:
        event = admin.move_model(name, action)
    except ApiError as exc:
        st.session_state[MOVE_OUTCOME] = ("error", f"{MOVES[action]}: {exc.message}")
        return
    moved = f"v{event.from_version} → v{event.to_version}" if event.to_version else f"v{event.from_version}"
    st.session_state[MOVE_OUTCOME] = ("success", f"{event.action}: {moved}")


def show_challenger(reader: GatewayClient) -> ChallengerStatus | None:
    st.subheader("Challenger in shadow")
    status = fetched(reader.challenger, "read the challenger")
    if status is None:
        return None
    if status.challenger_version is None:
        st.caption(
            f"No challenger: **{status.model_name}** v{status.champion_version or '—'} serves alone. A trained "
            "version that beats it offline is scored here beside it before it is promoted."
        )
    else:
        figures = status.figures
        since = f"{status.challenger_since:%Y-%m-%d %H:%M} UTC" if status.challenger_since else "—"
        calls = figures.shadow_calls if figures else 0
        agreement = _figure(figures.agreement if figures else None)
        st.markdown(
            f"**v{status.challenger_version}** challenges champion **v{status.champion_version}** since {since}: "
            f"{calls} shadow-scored calls, agreement {agreement}"
            + (f", {figures.skipped_calls} skipped over budget" if figures and figures.skipped_calls else "")
        )
        st.dataframe(figures_frame(status), hide_index=True, key="models_challenger_figures")
        if status.verdict:
            st.caption(f"Gate ({status.gate_policy}): **{status.verdict.action}** — {status.verdict.reason}")
    return status


def show_moves(admin: GatewayClient, status: ChallengerStatus) -> None:
    outcome = st.session_state.pop(MOVE_OUTCOME, None)
    if outcome:
        (st.success if outcome[0] == "success" else st.error)(outcome[1])
    columns = st.columns(len(MOVES))
    for column, (action, label) in zip(columns, MOVES.items(), strict=True):
        disabled = action != "rollback" and status.challenger_version is None
        column.button(
            label,
            key=f"models_{action}",
            disabled=disabled or status.champion_version is None,
            on_click=_move,
            args=(admin, status.model_name, action),
        )


def show_history(reader: GatewayClient, name: str) -> None:
    st.subheader("Promotion history")
    history = fetched(lambda: reader.model_history(name), "read the promotion history")
    if history is None:
        return
    if not history.events:
        st.caption("No promotion, rollback or retirement recorded yet.")
        return
    st.dataframe(history_frame(history), hide_index=True, key="models_history")


def show_lifecycle(reader: GatewayClient, admin: GatewayClient | None) -> None:
    status = show_challenger(reader)
    if status is None:
        return
    if admin is not None:
        show_moves(admin, status)
    show_history(reader, status.model_name)
