"""The Alertmanager of the `monitoring` profile: its config, as Compose writes it from compose/.env, passes
`amtool check-config`, routes every alert to e-mail with the box's SMTP settings, and Debian's Alertmanager run
with it e-mails a firing alert to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from local_stack.processes import ManagedProcess, free_port, http_ok, wait_until
from tests.conftest import SmtpSink
from tests.deploy.monitoring_files import debian_binary, example_env_file, resolved_compose

SMTP = {
    "SMTP_HOST": "smtp.example.net",
    "SMTP_PORT": "2525",
    "SMTP_STARTTLS": "true",
    "SMTP_USER": "alerts-user",
    "MAIL_FROM": "box@example.net",
    "MAIL_TO": "ops@example.net,ml@example.net",
}
PASSWORD_FILE = "/run/secrets/smtp_password"


def _alertmanager_config(tmp_path: Path, **settings: str) -> tuple[dict, dict]:
    """The resolved stack and the Alertmanager config Compose writes for these .env settings."""
    stack = resolved_compose(example_env_file(tmp_path / "test.env", **settings), "monitoring")
    (mounted,) = stack["services"]["alertmanager"]["configs"]
    assert mounted["target"] == "/etc/alertmanager/alertmanager.yml"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in stack["services"]["alertmanager"]["command"]
    return stack, yaml.safe_load(stack["configs"][mounted["source"]]["content"])


def _receivers_used(route: dict) -> set[str]:
    used = {route["receiver"]} if "receiver" in route else set()
    for child in route.get("routes", []):
        used |= _receivers_used(child)
    return used


def test_the_config_passes_amtool(tmp_path: Path) -> None:
    _, config = _alertmanager_config(tmp_path, **SMTP)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    checked = subprocess.run([debian_binary("amtool"), "check-config", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_every_alert_goes_to_email_with_the_boxs_smtp_settings(tmp_path: Path) -> None:
    stack, config = _alertmanager_config(tmp_path, **SMTP)
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert _receivers_used(config["route"]) <= set(receivers), "a route names a receiver that does not exist"
    for name in _receivers_used(config["route"]):
        (email,) = receivers[name]["email_configs"]
        assert email["to"] == SMTP["MAIL_TO"]
        assert email["send_resolved"] is True
    settings = config["global"]
    assert settings["smtp_smarthost"] == f"{SMTP['SMTP_HOST']}:{SMTP['SMTP_PORT']}"
    assert settings["smtp_from"] == SMTP["MAIL_FROM"]
    assert settings["smtp_auth_username"] == SMTP["SMTP_USER"]
    assert settings["smtp_require_tls"] is True
    # The password reaches Alertmanager as a secret file, never inside its config.
    assert settings["smtp_auth_password_file"] == PASSWORD_FILE
    assert "smtp_auth_password" not in settings
    assert stack["secrets"]["smtp_password"]["environment"] == "SMTP_PASSWORD"
    assert {"source": "smtp_password", "target": PASSWORD_FILE} in stack["services"]["alertmanager"]["secrets"]


def test_without_starttls_the_config_does_not_require_tls(tmp_path: Path) -> None:
    _, config = _alertmanager_config(tmp_path, **{**SMTP, "SMTP_STARTTLS": "false"})
    assert config["global"]["smtp_require_tls"] is False


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def test_a_firing_alert_is_emailed(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    settings = {**SMTP, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_sink.port), "SMTP_STARTTLS": "false"}
    # The loopback server takes mail without a login: no user, as a box whose relay needs none.
    _, config = _alertmanager_config(tmp_path, **{**settings, "SMTP_USER": ""})
    (tmp_path / "smtp_password").write_text("")
    config["global"]["smtp_auth_password_file"] = str(tmp_path / "smtp_password")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    server = ManagedProcess(
        "alertmanager",
        [
            debian_binary("prometheus-alertmanager"),
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        tmp_path / "alertmanager.log",
    ).start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(url + "/-/ready"), 30, "alertmanager", server)
        alert = {
            "labels": {"alertname": "NoLiveInferenceWorker", "severity": "critical"},
            "annotations": {"summary": "No inference worker is alive"},
        }
        posted = httpx.post(url + "/api/v2/alerts", json=[alert], timeout=5)
        assert posted.status_code == 200, posted.text
        # Critical alerts wait 10 s for others of their group before the first e-mail.
        (message,) = smtp_sink.wait_for(1, timeout_s=45)
    finally:
        server.stop()
    assert message["Subject"] == "[air-paradis] FIRING: NoLiveInferenceWorker"
    assert message["From"] == SMTP["MAIL_FROM"]
    assert {address.strip() for address in message["To"].split(",")} == set(SMTP["MAIL_TO"].split(","))
    assert "No inference worker is alive" in message.get_body(("html", "plain")).get_content()
