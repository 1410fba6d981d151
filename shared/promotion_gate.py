"""The promotion gate: whether a shadow-scored challenger is promoted, retired, or still waits, on figures alone.

Pure, with the clock passed in: the training worker's periodic check acts on its verdict, and GET /models/challenger
shows the same verdict live.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.schemas.lifecycle import GateVerdict, ModelFiguresLive, ShadowFigures


class PromotionPolicySettings(BaseSettings):
    """How a new LSTM that wins offline reaches `@champion`, read by the training worker and the gateway alike."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # shadow: it takes `@challenger` and is scored beside the champion on live calls first; direct: `@champion` at
    # once. Only the served family (LSTM) is shadowed; a registry with no champion gets its first one directly.
    promotion_mode: Literal["shadow", "direct"] = "shadow"
    # auto: the gate promotes or retires the challenger itself; manual: only an admin does (the verdict is shown).
    promotion_gate: Literal["auto", "manual"] = "auto"
    gate_min_shadow_calls: int = Field(200, ge=1)
    gate_min_shadow_s: float = Field(3600.0, ge=0)
    # The challenger's p99 model-call time on the shadow-scored calls (the same batches the champion answered).
    gate_max_p99_ms: float = Field(50.0, gt=0)
    # How much lower the challenger's live precision or recall may be than the champion's on the same labels.
    gate_live_tolerance: float = Field(0.0, ge=0, le=1)
    # How often the training worker's main process applies the gate.
    gate_interval_s: float = Field(30.0, gt=0)


def _no_worse(name: str, challenger: float | None, champion: float | None, tolerance: float) -> str | None:
    """Why the challenger is worse on one figure, or None; a figure one side lacks compares nothing."""
    if challenger is None or champion is None or challenger >= champion - tolerance:
        return None
    return f"live {name} {challenger:.3f} is below the champion's {champion:.3f} on the same labelled predictions"


def judge(
    offline: dict[str, Any],
    champion_version: str | None,
    figures: ShadowFigures | None,
    challenger_since: datetime,
    now: datetime,
    policy: PromotionPolicySettings,
) -> GateVerdict:
    """`offline` is what training decided when it made the version challenger (`promoted`, `champion_version`)."""
    if not offline.get("promoted"):
        return GateVerdict(action="retire", reason=f"offline: {offline.get('reason', 'no winning offline comparison')}")
    compared = offline.get("champion_version")
    if compared != champion_version:
        return GateVerdict(
            action="retire",
            reason=f"compared offline with v{compared}, but the champion is now v{champion_version}: "
            "retrain to compare",
        )
    calls = figures.shadow_calls if figures else 0
    age_s = (now - challenger_since).total_seconds()
    if calls < policy.gate_min_shadow_calls or age_s < policy.gate_min_shadow_s:
        return GateVerdict(
            action="wait",
            reason=f"{calls}/{policy.gate_min_shadow_calls} shadow-scored calls, "
            f"{age_s:.0f}/{policy.gate_min_shadow_s:.0f} s in shadow",
        )
    assert figures is not None
    challenger, champion = figures.challenger, figures.champion
    p99 = challenger.latency_p99_ms
    if p99 is not None and p99 > policy.gate_max_p99_ms:
        return GateVerdict(
            action="retire", reason=f"latency p99 {p99:.2f} ms is over the budget of {policy.gate_max_p99_ms:g} ms"
        )
    worse = _live_worse(challenger, champion, policy.gate_live_tolerance)
    if worse:
        return GateVerdict(action="retire", reason=worse)
    labelled = f"{challenger.labelled} labelled live predictions" if challenger.labelled else "no labelled predictions"
    return GateVerdict(
        action="promote",
        reason=f"gate passed: {offline.get('reason', 'better offline')}; {calls} shadow-scored calls, "
        f"agreement {figures.agreement if figures.agreement is not None else 0:.3f}, "
        f"p99 {p99 if p99 is not None else 0:.2f} ms, no worse on {labelled}",
    )


def _live_worse(challenger: ModelFiguresLive, champion: ModelFiguresLive, tolerance: float) -> str | None:
    if challenger.labelled == 0:
        return None
    return _no_worse("precision", challenger.precision, champion.precision, tolerance) or _no_worse(
        "recall", challenger.recall, champion.recall, tolerance
    )
