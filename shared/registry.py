"""Model registry access through MLflow aliases and tags (never the deprecated stages)."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from shared.schemas.api import ModelVersionInfo

EMBEDDING_TYPE_TAG = "embedding_type"
FAMILY_TAG = "family"
TEST_PRECISION_TAG = "test_precision"
SPLIT_HASH_TAG = "split_hash"
THRESHOLD_TAG = "threshold"
RECALL_AT_TARGET_TAG = "recall_at_target_precision"
TEACHER_TAG = "teacher"
CHALLENGER_ALIAS = "challenger"
# On a challenger version: when it took the alias, and the offline comparison (JSON) that gave it the alias.
CHALLENGER_SINCE_TAG = "challenger_since"
OFFLINE_COMPARISON_TAG = "challenger_offline"
RETIRED_TAG = "retired"  # on a retired challenger: why
# The registered model's history, one tag per event: `history.<ms since epoch>.<event id>` -> the event's JSON.
HISTORY_TAG_PREFIX = "history."
HISTORY_MAX_EVENTS = 200


def model_uri(name: str, alias: str) -> str:
    return f"models:/{name}@{alias}"


def champion_version(client: MlflowClient, name: str, alias: str = "champion") -> ModelVersionInfo | None:
    """The version holding `alias`, or None when the model or alias does not exist yet."""
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise
    return _describe(client, version, with_metrics=True)


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(name, alias, version)


def delete_alias(client: MlflowClient, name: str, alias: str) -> None:
    """Remove `alias` from the model; nothing happens when it is not set."""
    try:
        client.delete_registered_model_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise


def set_version_tags(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def append_history(client: MlflowClient, name: str, event_id: str, at_ms: int, event_json: str) -> None:
    """Keep one history event on the registered model, and only the newest HISTORY_MAX_EVENTS of them."""
    client.set_registered_model_tag(name, f"{HISTORY_TAG_PREFIX}{at_ms:013d}.{event_id}", event_json)
    keys = sorted(key for key in client.get_registered_model(name).tags if key.startswith(HISTORY_TAG_PREFIX))
    for key in keys[: max(0, len(keys) - HISTORY_MAX_EVENTS)]:
        client.delete_registered_model_tag(name, key)


def read_history(client: MlflowClient, name: str) -> list[str]:
    """The history events' JSON, newest first; empty for a model not registered yet."""
    try:
        tags = client.get_registered_model(name).tags or {}
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise
    return [tags[key] for key in sorted((k for k in tags if k.startswith(HISTORY_TAG_PREFIX)), reverse=True)]


def list_versions(client: MlflowClient, name: str, with_metrics: bool = True) -> list[ModelVersionInfo]:
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise
    described = [_describe(client, v, with_metrics) for v in versions]
    # search_model_versions leaves `aliases` empty; the registered model knows them.
    aliases_by_version: dict[str, list[str]] = {}
    if described:
        for alias, version in (client.get_registered_model(name).aliases or {}).items():
            aliases_by_version.setdefault(str(version), []).append(alias)
    for info in described:
        info.aliases = sorted(set(info.aliases) | set(aliases_by_version.get(info.version, [])))
    return sorted(described, key=lambda v: int(v.version), reverse=True)


def _describe(client: MlflowClient, version, with_metrics: bool) -> ModelVersionInfo:
    metrics: dict[str, float] = {}
    if with_metrics and version.run_id:
        try:
            metrics = dict(client.get_run(version.run_id).data.metrics)
        except MlflowException:
            metrics = {}
    from datetime import UTC, datetime

    created = datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC) if version.creation_timestamp else None
    return ModelVersionInfo(
        name=version.name,
        version=str(version.version),
        aliases=list(getattr(version, "aliases", []) or []),
        tags=dict(version.tags or {}),
        metrics={k: float(v) for k, v in metrics.items()},
        run_id=version.run_id,
        created_at=created,
    )
