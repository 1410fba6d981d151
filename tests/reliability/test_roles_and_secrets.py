"""Who gets in: every route of the app is public by an explicit list or refuses a missing key and a wrong role.

Also: settings refuse weak secrets outside local/test for every service, keys are compared in constant time,
and CORS stays closed unless origins are configured. These run in-process on `create_app()`: the role check
answers before any handler touches Redis or a worker.
"""

from __future__ import annotations

import importlib
import re
import typing
from collections.abc import Iterator

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from gateway import api_keys, deps
from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.settings import INSECURE_DEFAULT_KEYS, ServiceSettings

pytestmark = [pytest.mark.integration]

ANALYST_KEY = "reliability-analyst-key-0123456789"
ADMIN_KEY = "reliability-admin-key-0123456789"

# Routes anyone may call. A new route is either added here on purpose or protected by AnalystRole/AdminRole.
PUBLIC_ROUTES = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/predict"),
    ("POST", "/predict/batch"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
SERVICE_SETTINGS_MODULES = (
    "gateway.settings",
    "inference_worker.settings",
    "training_worker.settings",
    "alerting.settings",
    "ui.settings",
)


def _role_checks() -> dict[typing.Callable, str]:
    """The dependency callables behind AnalystRole and AdminRole, mapped to the least role each lets in."""
    return {
        typing.get_args(deps.AnalystRole)[1].dependency: "analyst",
        typing.get_args(deps.AdminRole)[1].dependency: "admin",
    }


def required_role(route) -> str | None:
    """The strictest role found anywhere in the route's dependency tree (router-level ones included)."""
    checks = _role_checks()
    found: set[str] = set()
    root = getattr(route, "dependant", None)
    stack = [root] if root is not None else []
    while stack:
        dependant = stack.pop()
        if dependant.call in checks:
            found.add(checks[dependant.call])
        stack.extend(dependant.dependencies)
    return "admin" if "admin" in found else ("analyst" if found else None)


def routes_of(app) -> Iterator[tuple[str, str, object]]:
    """Every (method, path, route) the app serves, routers included at any depth (as FastAPI's OpenAPI sees them)."""
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, route.path, route


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", path)


@pytest.fixture(scope="module")
def client(redis_server) -> Iterator[TestClient]:
    settings = GatewaySettings(
        environment="test",
        redis_url=redis_server[1],
        analyst_api_key=SecretStr(ANALYST_KEY),
        admin_api_key=SecretStr(ADMIN_KEY),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_every_route_is_public_on_purpose_or_protected(client: TestClient) -> None:
    served = {path for _, path, _ in routes_of(client.app)}
    assert {"/predict", "/health"} <= served, "route enumeration is broken: " + ", ".join(sorted(served))
    unprotected = [
        (method, path)
        for method, path, route in routes_of(client.app)
        if (method, path) not in PUBLIC_ROUTES and not required_role(route)
    ]
    assert unprotected == [], "routes without a role check and not listed as public: add AnalystRole/AdminRole"


def test_protected_routes_refuse_missing_unknown_and_lesser_keys(client: TestClient) -> None:
    checked = []
    for method, path, route in routes_of(client.app):
        role = required_role(route)
        if role is None:
            continue
        url = concrete(path)
        missing = client.request(method, url, json={})
        assert missing.status_code == 401, (method, path, missing.text)
        assert "X-API-Key" in missing.json()["detail"]
        unknown = client.request(method, url, json={}, headers={"X-API-Key": "not-a-key"})
        assert unknown.status_code == 401, (method, path, unknown.text)
        if role == "admin":
            lesser = client.request(method, url, json={}, headers={"X-API-Key": ANALYST_KEY})
            assert lesser.status_code == 403, (method, path, lesser.text)
        checked.append((method, path, role))
    assert checked, "no protected route found: the role detection is broken"
    assert any(role == "admin" for *_, role in checked)


def test_keys_match_exactly_and_near_misses_are_refused() -> None:
    settings = GatewaySettings(analyst_api_key=SecretStr(ANALYST_KEY), admin_api_key=SecretStr(ADMIN_KEY))
    assert api_keys.role_of_key(ADMIN_KEY, settings) == "admin"
    assert api_keys.role_of_key(ANALYST_KEY, settings) == "analyst"
    for near_miss in (ANALYST_KEY[:-1], ANALYST_KEY + "x", ANALYST_KEY[:-1] + "X", ANALYST_KEY.upper(), ""):
        assert api_keys.role_of_key(near_miss, settings) is None, near_miss
    assert api_keys.role_of_key("é" + ANALYST_KEY, settings) is None  # non-ASCII keys compare as bytes, no TypeError


def service_settings_classes() -> list[type[ServiceSettings]]:
    classes = []
    for module_name in SERVICE_SETTINGS_MODULES:
        module = importlib.import_module(module_name)
        classes += [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, ServiceSettings) and value is not ServiceSettings
        ]
    return classes


# Fields that switch a secret on (alerting needs its SMTP password only once an SMTP user is configured).
SECRET_ENABLERS = {"AlertingSettings": {"smtp_host": "smtp.example.com", "smtp_user": "alerts"}}


@pytest.mark.parametrize("settings_class", service_settings_classes(), ids=lambda c: c.__name__)
def test_settings_refuse_default_secrets_outside_local(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    enablers = SECRET_ENABLERS.get(settings_class.__name__, {})
    for name in enablers:
        monkeypatch.setenv(name.upper(), enablers[name])
    secret_names = list(settings_class(environment="local").secrets_to_check())
    for name in secret_names:
        monkeypatch.delenv(name.upper(), raising=False)
    for environment in ("local", "test"):
        settings_class(environment=environment)  # developers and tests start with the defaults
    if not secret_names:
        settings_class(environment="production")
        return
    with pytest.raises(ValidationError) as refused:
        settings_class(environment="production")
    for name in secret_names:
        assert name.upper() in str(refused.value)
    strong = {name: SecretStr(f"strong-{name}-9f8e7d6c5b4a") for name in secret_names}
    settings_class(environment="production", **strong)
    for name in secret_names:
        for weak in INSECURE_DEFAULT_KEYS:
            with pytest.raises(ValidationError, match=name.upper()):
                settings_class(environment="production", **{**strong, name: SecretStr(weak)})


def test_cors_is_closed_unless_configured(redis_server) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    closed = create_app(GatewaySettings(environment="test", redis_url=redis_server[1]))
    with TestClient(closed) as test_client:
        answer = test_client.options("/predict", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
        simple = test_client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers
    opened = create_app(
        GatewaySettings(environment="test", redis_url=redis_server[1], cors_origins=["https://ui.example"])
    )
    with TestClient(opened) as test_client:
        allowed = test_client.options("/predict", headers={**preflight, "Origin": "https://ui.example"})
        assert allowed.headers.get("access-control-allow-origin") == "https://ui.example"
        refused = test_client.options("/predict", headers=preflight)
        assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
