"""Dependencies declared once: settings, Redis, Celery, the stores, and the caller (name, role) from the `X-API-Key`
header."""

from __future__ import annotations

from typing import Annotated

import redis
from celery import Celery
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from gateway.api_keys import API_KEY_HEADER, Caller, Role, caller_of_key
from gateway.predict_path import PredictPath
from gateway.settings import GatewaySettings
from shared.feedback import FeedbackStore
from shared.jobs import JobStore
from shared.prediction_log import PredictionLog

_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Analyst or admin API key.")


def get_settings_dep(request: Request) -> GatewaySettings:
    return request.app.state.settings


def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


def predict_path_of(request: Request) -> PredictPath:
    return request.app.state.predict_path


async def _predict_path(request: Request) -> PredictPath:
    # Async, like the predict routes: a sync dependency would cost them a threadpool hop per request.
    return predict_path_of(request)


def get_feedback_store(request: Request) -> FeedbackStore:
    return request.app.state.feedback_store


def get_job_store(request: Request) -> JobStore:
    return request.app.state.job_store


def get_prediction_log(request: Request) -> PredictionLog:
    return request.app.state.prediction_log


SettingsDep = Annotated[GatewaySettings, Depends(get_settings_dep)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
PredictPathDep = Annotated[PredictPath, Depends(_predict_path)]
FeedbackStoreDep = Annotated[FeedbackStore, Depends(get_feedback_store)]
JobStoreDep = Annotated[JobStore, Depends(get_job_store)]
PredictionLogDep = Annotated[PredictionLog, Depends(get_prediction_log)]


def _require(allowed: tuple[Role, ...]):
    def check(settings: SettingsDep, api_key: Annotated[str | None, Security(_api_key_header)] = None) -> Caller:
        if not api_key:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"missing API key: send it in the {API_KEY_HEADER} header",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        caller = caller_of_key(api_key, settings)
        if caller is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "ApiKey"})
        if caller.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this route needs one of the roles: {', '.join(allowed)}")
        return caller

    return check


# The caller (name and role) of a request whose key grants at least the analyst role, or the admin role.
AnalystRole = Annotated[Caller, Depends(_require(("analyst", "admin")))]
AdminRole = Annotated[Caller, Depends(_require(("admin",)))]
