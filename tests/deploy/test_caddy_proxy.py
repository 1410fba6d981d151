"""compose/caddy/Caddyfile: each public name goes to its Compose service, and a real Caddy (Debian's) terminates
TLS with its own certificate authority in front of a real gateway."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from local_stack.processes import ManagedProcess, free_port, wait_until
from tests.deploy.monitoring_files import COMPOSE_FILE, ROOT, debian_binary

CADDYFILE = ROOT / "compose/caddy/Caddyfile"
# Site name variable -> the Compose service it must reach (and the Caddyfile's upstream override for tests).
SITES = {"API_HOST": "gateway", "UI_HOST": "ui", "MLFLOW_HOST": "mlflow"}


def _caddy_env(tmp: Path, **env: str) -> dict[str, str]:
    # Caddy keeps its CA and certificates under XDG_DATA_HOME: a test's own folder, never the machine's.
    return {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp), **env}


def _adapt(tmp: Path, **env: str) -> dict:
    completed = subprocess.run(
        [debian_binary("caddy"), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_caddy_env(tmp, **env),
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def _container_port(service: dict) -> str:
    return str(service["ports"][0]).rsplit(":", 1)[1]


def _dial(route: dict) -> str:
    """The upstream a site's route proxies to (inside its subroute, after the header and encode handlers)."""
    return json.dumps(route["handle"]).split('"dial": "')[1].split('"')[0]


def test_each_name_reaches_its_service(tmp_path: Path) -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    names = {var: f"{service}.box.test" for var, service in SITES.items()}
    config = _adapt(tmp_path, TLS_ISSUER="internal", **names)
    routes = config["apps"]["http"]["servers"]["srv0"]["routes"]
    dialled = {route["match"][0]["host"][0]: _dial(route) for route in routes}
    expected = {names[var]: f"{service}:{_container_port(compose[service])}" for var, service in SITES.items()}
    assert dialled == expected
    assert config["admin"] == {"disabled": True}
    [policy] = config["apps"]["tls"]["automation"]["policies"]
    assert policy["issuers"] == [{"module": "internal"}]


def test_an_email_issuer_asks_lets_encrypt(tmp_path: Path) -> None:
    names = {var: f"{service}.example.com" for var, service in SITES.items()}
    config = _adapt(tmp_path, TLS_ISSUER="ops@example.com", **names)
    [policy] = config["apps"]["tls"]["automation"]["policies"]
    assert policy["issuers"][0]["module"] == "acme"
    assert policy["issuers"][0]["email"] == "ops@example.com"


@pytest.fixture
def caddy(gateway: str, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = free_port()
    env = _caddy_env(
        tmp_path,
        API_HOST=f"api.localhost:{port}",
        UI_HOST=f"ui.localhost:{port}",
        MLFLOW_HOST=f"mlflow.localhost:{port}",
        TLS_ISSUER="internal",
        GATEWAY_UPSTREAM=gateway.removeprefix("http://"),
    )
    process = ManagedProcess(
        "caddy",
        [debian_binary("caddy"), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        tmp_path / "caddy.log",
        env=env,
    ).start()
    root = tmp_path / "data/caddy/pki/authorities/local/root.crt"
    try:
        wait_until(lambda: root.exists() and _curl(port, root, "/health").returncode == 0, 60, "caddy", process)
        yield port, root
    finally:
        process.stop()


def _curl(port: int, root: Path, path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--resolve", f"api.localhost:{port}:127.0.0.1", "--cacert", str(root),
         "-D", "-", *extra, f"https://api.localhost:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip


@pytest.mark.integration
def test_caddy_serves_the_gateway_over_tls_with_its_own_ca(caddy: tuple[int, Path]) -> None:
    port, root = caddy
    answer = _curl(port, root, "/health")
    assert answer.returncode == 0, answer.stderr
    headers, _, body = answer.stdout.partition("\n\n")  # text mode turned curl's CRLFs into LFs
    assert headers.startswith("HTTP/2 200"), headers
    assert "strict-transport-security: max-age=31536000" in headers.lower()
    assert json.loads(body)["status"] == "ok", body
    # The same port refuses plain HTTP: nothing reaches the gateway unencrypted through the proxy.
    plain = subprocess.run(
        ["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/health"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert plain.stdout == "400", plain.stdout + plain.stderr
    untrusted = subprocess.run(
        ["curl", "-sS", "--max-time", "5", "--resolve", f"api.localhost:{port}:127.0.0.1", f"https://api.localhost:{port}/health"],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert untrusted.returncode != 0, "a client without Caddy's root certificate should refuse the connection"
