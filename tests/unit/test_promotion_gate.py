"""The promotion gate's rule on figures alone: when a challenger waits, is promoted, or is retired and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.promotion_gate import PromotionPolicySettings, judge
from shared.schemas.lifecycle import ModelFiguresLive, ShadowFigures

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = PromotionPolicySettings(gate_min_shadow_calls=100, gate_min_shadow_s=600, gate_max_p99_ms=20)
OFFLINE = {"promoted": True, "reason": "promoted: recall 0.6 beats 0.5", "champion_version": "3"}


def live(p99: float = 5.0, tp: int = 0, fp: int = 0, fn: int = 0, tn: int = 0) -> ModelFiguresLive:
    labelled = tp + fp + fn + tn
    return ModelFiguresLive(
        version=None,
        latency_p50_ms=p99 / 2,
        latency_p99_ms=p99,
        labelled=labelled,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
    )


def shadow(calls: int, champion: ModelFiguresLive | None = None, challenger: ModelFiguresLive | None = None):
    return ShadowFigures(
        model_name="m",
        challenger_version="4",
        shadow_calls=calls,
        shadow_tweets=calls,
        agreement=0.9,
        champion=champion or live(),
        challenger=challenger or live(),
    )


def verdict(figures: ShadowFigures | None, after_s: float = 3600, offline: dict = OFFLINE, champion: str = "3"):
    return judge(offline, champion, figures, SINCE, SINCE + timedelta(seconds=after_s), POLICY)


def test_waits_for_enough_calls_and_time() -> None:
    assert verdict(None).action == "wait"
    assert verdict(shadow(99)).action == "wait"
    waiting = verdict(shadow(500), after_s=599)
    assert waiting.action == "wait" and "599/600 s" in waiting.reason


def test_promotes_a_challenger_that_meets_every_condition() -> None:
    passed = verdict(shadow(100))
    assert passed.action == "promote" and "gate passed" in passed.reason and "no labelled" in passed.reason
    # Better or equal on the labelled predictions is no worse.
    labelled = shadow(100, champion=live(tp=5, fp=5, fn=5), challenger=live(tp=8, fp=2, fn=2))
    assert verdict(labelled).action == "promote"


def test_retires_a_challenger_over_the_latency_budget() -> None:
    slow = verdict(shadow(100, challenger=live(p99=25.0)))
    assert slow.action == "retire" and "latency p99 25.00 ms is over the budget of 20 ms" in slow.reason


@pytest.mark.parametrize(
    ("challenger", "figure"),
    [(live(tp=5, fp=5, fn=1), "precision"), (live(tp=2, fp=0, fn=8), "recall")],
)
def test_retires_a_challenger_worse_on_labelled_live_predictions(challenger: ModelFiguresLive, figure: str) -> None:
    champion = live(tp=9, fp=1, fn=1)
    worse = verdict(shadow(100, champion=champion, challenger=challenger))
    assert worse.action == "retire" and worse.reason.startswith(f"live {figure}")


def test_tolerance_lets_a_slightly_lower_live_figure_through() -> None:
    tolerant = PromotionPolicySettings(gate_min_shadow_calls=1, gate_min_shadow_s=0, gate_live_tolerance=0.2)
    figures = shadow(1, champion=live(tp=9, fp=1), challenger=live(tp=8, fp=2))
    assert judge(OFFLINE, "3", figures, SINCE, SINCE, tolerant).action == "promote"


def test_retires_when_the_champion_changed_since_the_offline_comparison() -> None:
    moved = verdict(shadow(500), champion="5")
    assert moved.action == "retire" and "compared offline with v3, but the champion is now v5" in moved.reason


def test_retires_without_a_winning_offline_comparison() -> None:
    lost = verdict(shadow(500), offline={"promoted": False, "reason": "not promoted: 0.4 does not beat 0.5"})
    assert lost.action == "retire" and "does not beat" in lost.reason
