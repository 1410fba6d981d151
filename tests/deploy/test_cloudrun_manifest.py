"""deploy/cloudrun/service.yaml keeps the settings the Cloud Run guide in docs/deploy.md relies on."""

from __future__ import annotations

from pathlib import Path

import yaml

SERVICE = Path(__file__).resolve().parents[2] / "deploy/cloudrun/service.yaml"


def _template() -> dict:
    return yaml.safe_load(SERVICE.read_text())["spec"]["template"]


def _env(container: dict) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_an_instance_takes_as_many_requests_as_one_model_call() -> None:
    template = _template()
    containers = {container["name"]: container for container in template["spec"]["containers"]}
    gateway, worker = _env(containers["gateway"]), _env(containers["inference-worker"])
    concurrency = template["spec"]["containerConcurrency"]
    assert concurrency == int(gateway["PREDICT_MAX_BATCH_SIZE"]) == int(worker["MAX_BATCH_SIZE"])


def test_one_instance_stays_warm_with_its_cpu() -> None:
    annotations = _template()["metadata"]["annotations"]
    assert int(annotations["autoscaling.knative.dev/minScale"]) >= 1
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"


def test_the_gateway_believes_googles_front_end() -> None:
    gateway = next(c for c in _template()["spec"]["containers"] if c["name"] == "gateway")
    assert _env(gateway)["FORWARDED_ALLOW_IPS"] == "*"
