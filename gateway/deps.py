"""Dependencies declared once: settings, Redis, Celery, and the caller's role from the `X-API-Key` header."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

import redis
from celery import Celery
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from gateway.settings import GatewaySettings

Role = Literal["analyst", "admin"]
API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Analyst or admin API key.")


def get_settings_dep(request: Request) -> GatewaySettings:
    return request.app.state.settings


def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


SettingsDep = Annotated[GatewaySettings, Depends(get_settings_dep)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


def role_of_key(api_key: str | None, settings: GatewaySettings) -> Role | None:
    """The role a key grants, compared in constant time against every configured key."""
    if not api_key:
        return None
    candidate = api_key.encode()
    is_admin = hmac.compare_digest(candidate, settings.admin_api_key.get_secret_value().encode())
    is_analyst = hmac.compare_digest(candidate, settings.analyst_api_key.get_secret_value().encode())
    if is_admin:
        return "admin"
    if is_analyst:
        return "analyst"
    return None


def _require(allowed: tuple[Role, ...]):
    def check(settings: SettingsDep, api_key: Annotated[str | None, Security(_api_key_header)] = None) -> Role:
        if not api_key:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"missing API key: send it in the {API_KEY_HEADER} header",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        role = role_of_key(api_key, settings)
        if role is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "ApiKey"})
        if role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this route needs one of the roles: {', '.join(allowed)}")
        return role

    return check


AnalystRole = Annotated[Role, Depends(_require(("analyst", "admin")))]
AdminRole = Annotated[Role, Depends(_require(("admin",)))]
