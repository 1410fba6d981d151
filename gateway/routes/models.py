"""GET /models: registered versions of every family with metrics, tags and aliases, and which one inference serves."""

from __future__ import annotations

import logging

import requests
from fastapi import APIRouter, HTTPException, status
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from gateway.deps import AnalystRole, SettingsDep
from gateway.errors import NEEDS_KEY, REGISTRY_DOWN
from shared.registry import list_versions
from shared.schemas.api import ModelsOverview, RegisteredVersion

log = logging.getLogger(__name__)
router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelsOverview, responses={**NEEDS_KEY, **REGISTRY_DOWN})
def models(role: AnalystRole, settings: SettingsDep) -> ModelsOverview:
    """Every registered version of the LSTM, classical and BERT models, newest first per family."""
    client = MlflowClient(settings.mlflow_tracking_uri)
    overview = ModelsOverview(serving_model=settings.lstm_model_name)
    try:
        for family, name in settings.registered_model_names().items():
            champion = None
            for info in list_versions(client, name):
                is_champion = settings.champion_alias in info.aliases
                champion = info.version if is_champion else champion
                serving = is_champion and family == "lstm"
                overview.versions.append(
                    RegisteredVersion(**info.model_dump(), family=family, is_champion=is_champion, serving=serving)
                )
                if serving:
                    overview.serving_version = info.version
            overview.champions[family] = champion
    except (MlflowException, requests.RequestException, OSError) as exc:
        log.warning("model registry unreachable uri=%s error=%s", settings.mlflow_tracking_uri, exc.__class__.__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the model registry (MLflow at {settings.mlflow_tracking_uri}) is unreachable: "
            f"{exc.__class__.__name__}; retry later",
        ) from exc
    return overview
