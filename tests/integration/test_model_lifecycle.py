"""Alias moves and their history on a real MLflow registry, and shadow figures in a real Redis.

The versions here hold a one-file artifact: moving aliases and reading figures never loads a model.
"""

from __future__ import annotations

import mlflow
import pytest
import redis
from mlflow import MlflowClient

from local_stack.processes import ManagedProcess
from shared import events, model_lifecycle
from shared.promotion_gate import PromotionPolicySettings
from shared.registry import CHALLENGER_ALIAS, FAMILY_TAG, RETIRED_TAG, TEST_PRECISION_TAG
from shared.schemas.events import ModelPromotedEvent
from shared.schemas.lifecycle import Actor
from shared.shadow_stats import ShadowStore

pytestmark = [pytest.mark.integration]

PERSON = Actor(kind="person", name="ops-admin")
POLICY = Actor(kind="policy", name="offline promotion rule")


@pytest.fixture(scope="module")
def clients(
    redis_server: tuple[ManagedProcess, str], mlflow_server: tuple[ManagedProcess, str]
) -> tuple[MlflowClient, redis.Redis]:
    return MlflowClient(mlflow_server[1]), redis.Redis.from_url(redis_server[1])


def _versions(client: MlflowClient, name: str, count: int) -> list[str]:
    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.set_experiment("lifecycle-test")
    client.create_registered_model(name)
    versions = []
    for _ in range(count):
        with mlflow.start_run() as run:
            mlflow.log_text("not a model", "model/README.txt")
        version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
        client.set_model_version_tag(name, version.version, FAMILY_TAG, "lstm")
        client.set_model_version_tag(name, version.version, TEST_PRECISION_TAG, "0.91")
        versions.append(str(version.version))
    return versions


def _last_event(redis_client: redis.Redis) -> ModelPromotedEvent:
    _, fields = redis_client.xrevrange(events.MODEL_PROMOTED_STREAM, count=1)[0]
    return events.decode(fields, ModelPromotedEvent)


def test_promote_challenge_retire_and_rollback_are_each_one_call_with_history(clients) -> None:
    client, redis_client = clients
    name = "lifecycle-lstm"
    v1, v2, v3 = _versions(client, name, 3)

    model_lifecycle.promote(client, redis_client, name, v1, PERSON, "first champion")
    offline = {"promoted": True, "reason": "promoted: recall 0.6 beats 0.5"}
    model_lifecycle.challenge(client, redis_client, name, v2, POLICY, offline)
    assert model_lifecycle.current_version(client, name, CHALLENGER_ALIAS) == v2
    announced = _last_event(redis_client)
    assert (announced.alias, announced.model_version, announced.previous_version) == ("challenger", v2, v1)

    status = model_lifecycle.challenger_status(client, redis_client, name, PromotionPolicySettings())
    assert (status.champion_version, status.challenger_version) == (v1, v2)
    assert status.offline["champion_version"] == v1 and status.figures is None
    assert status.verdict is not None and status.verdict.action == "wait"

    model_lifecycle.retire(client, redis_client, name, v2, PERSON, "worse on the night shift")
    assert model_lifecycle.current_version(client, name, CHALLENGER_ALIAS) is None
    assert client.get_model_version(name, v2).tags[RETIRED_TAG] == "worse on the night shift"

    model_lifecycle.challenge(client, redis_client, name, v3, POLICY, offline)
    model_lifecycle.promote(client, redis_client, name, v3, Actor(kind="policy", name="gate"), "gate passed")
    assert model_lifecycle.current_version(client, name, "champion") == v3
    assert model_lifecycle.current_version(client, name, CHALLENGER_ALIAS) is None
    promoted = _last_event(redis_client)
    assert (promoted.alias, promoted.model_version, promoted.previous_version) == ("champion", v3, v1)
    assert promoted.precision == pytest.approx(0.91)

    back = model_lifecycle.rollback(client, redis_client, name, PERSON, "answers looked off")
    assert (back.from_version, back.to_version) == (v3, v1)
    assert model_lifecycle.current_version(client, name, "champion") == v1
    assert _last_event(redis_client).model_version == v1
    with pytest.raises(model_lifecycle.LifecycleConflict, match="no earlier champion"):
        model_lifecycle.rollback(client, redis_client, name, PERSON, "again")
    with pytest.raises(model_lifecycle.LifecycleConflict, match="is the champion"):
        model_lifecycle.retire(client, redis_client, name, v1, PERSON, "no")

    history = model_lifecycle.history(client, name)
    moves = [(e.action, e.from_version, e.to_version, e.actor.kind) for e in history]
    assert moves == [
        ("rollback", v3, v1, "person"),
        ("promotion", v1, v3, "policy"),
        ("challenge", v1, v3, "policy"),
        ("retirement", v2, None, "person"),
        ("challenge", v1, v2, "policy"),
        ("promotion", None, v1, "person"),
    ]
    assert history[3].reason == "worse on the night shift" and history[0].actor.name == "ops-admin"


def test_a_newer_challenger_retires_the_one_it_replaces(clients) -> None:
    client, redis_client = clients
    name = "lifecycle-replaced"
    v1, v2, v3 = _versions(client, name, 3)
    model_lifecycle.promote(client, redis_client, name, v1, PERSON, "first")
    model_lifecycle.challenge(client, redis_client, name, v2, POLICY, {"promoted": True})
    model_lifecycle.challenge(client, redis_client, name, v3, POLICY, {"promoted": True})
    assert model_lifecycle.current_version(client, name, CHALLENGER_ALIAS) == v3
    retired = [e for e in model_lifecycle.history(client, name) if e.action == "retirement"]
    assert [(e.from_version, e.reason) for e in retired] == [(v2, f"replaced by the newer challenger v{v3}")]


def test_shadow_figures_count_each_label_once_and_move_when_it_changes(clients) -> None:
    _, redis_client = clients
    store = ShadowStore(redis_client)
    ids = ["shadow-a", "shadow-b", "shadow-c", "shadow-d"]
    champion = ["positive", "positive", "negative", "negative"]
    challenger = ["positive", "negative", "negative", "positive"]
    store.record_scored("shadow-lstm", "7", ids[:2], champion[:2], challenger[:2], 2.0, 3.0, 60)
    store.record_scored("shadow-lstm", "7", ids[2:], champion[2:], challenger[2:], 4.0, 9.0, 60)
    store.record_skipped("shadow-lstm", "7")

    assert store.record_label("shadow-a", "positive")
    assert not store.record_label("shadow-a", "positive")  # a repeated flag counts once
    assert store.record_label("shadow-b", "positive")
    assert store.record_label("shadow-c", "negative")
    assert store.record_label("shadow-d", "positive")
    assert store.record_label("shadow-d", "negative")  # the analyst changed their mind: the count moves
    assert not store.record_label("never-shadow-scored", "negative")

    figures = store.figures("shadow-lstm", "7")
    assert figures is not None and figures.since is not None
    assert (figures.shadow_calls, figures.shadow_tweets, figures.skipped_calls) == (2, 4, 1)
    assert figures.agreement == pytest.approx(0.5)
    champ, chall = figures.champion, figures.challenger
    assert (champ.latency_p50_ms, champ.latency_p99_ms) == (2.0, 4.0)
    assert (chall.latency_p50_ms, chall.latency_p99_ms) == (3.0, 9.0)
    assert champ.labelled == chall.labelled == 4
    # Truth: a, b positive; c, d negative. Champion: a, b positive (tp 2), c, d negative (tn 2).
    assert (champ.true_positives, champ.false_positives, champ.false_negatives, champ.true_negatives) == (2, 0, 0, 2)
    assert (champ.precision, champ.recall) == (1.0, 1.0)
    # Challenger: a tp, b fn, c tn, d fp.
    assert (chall.true_positives, chall.false_positives, chall.false_negatives, chall.true_negatives) == (1, 1, 1, 1)
    assert (chall.precision, chall.recall) == (0.5, 0.5)
    assert store.figures("shadow-lstm", "8") is None
