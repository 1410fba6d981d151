"""deploy/k8s/render.py: every object it writes is valid Kubernetes (kubernetes-validate's bundled schemas) or valid
KEDA (its CRDs, kept in deploy/k8s/keda/), unknown fields refused; the objects keep the deployment's promises, with
the default values and with an operator's own (replicas, an external TLS Redis, scaler thresholds, KEDA off, the
prediction log's URL under another key, a dev PostgreSQL in the cluster).
"""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
RENDERED = K8S / "air-paradis.yaml"
# The oldest Kubernetes still supported upstream when this was written, and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.31.0", "1.37.0"]
# Trigger metadata each KEDA scaler reads (pkg/scalers/redis_streams_scaler.go, redis_scaler.go at v2.20.2):
# the CRD types metadata as a free string map, so a misspelt key would only show as a scaler that never scales.
REDIS_CONNECTION_KEYS = {"address", "addresses", "host", "hosts", "port", "ports", "username", "databaseIndex"}
TRIGGER_KEYS = {
    "redis-streams": REDIS_CONNECTION_KEYS
    | {"stream", "consumerGroup", "pendingEntriesCount", "streamLength", "lagCount", "activationLagCount", "enableTLS"},
    "redis": REDIS_CONNECTION_KEYS | {"listName", "listLength", "activationListLength", "enableTLS"},
}

Manifest = dict[str, Any]


def _load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("air_paradis_k8s_render", K8S / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


renderer = _load_renderer()


def _values(**overrides: Any) -> dict[str, Any]:
    return renderer.merge(renderer.load_values([]), overrides)


def _by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _strict(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields where the API server would prune them silently."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _crd_schemas() -> dict[tuple[str, str], dict]:
    schemas = {}
    for path in sorted((K8S / "keda").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schemas[(api_version, crd["spec"]["names"]["kind"])] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


CRD_SCHEMAS = _crd_schemas()


def _validate(manifest: Manifest) -> None:
    key = (manifest["apiVersion"], manifest["kind"])
    if key in CRD_SCHEMAS:
        jsonschema.validate(manifest, CRD_SCHEMAS[key])
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def _containers(manifests: list[Manifest]) -> Iterator[tuple[str, dict]]:
    for name, deployment in _by_kind(manifests, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield name, container


def _env(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container["env"]}


@pytest.fixture(scope="module")
def default() -> list[Manifest]:
    return renderer.render(renderer.load_values([]))


OPERATOR_VALUES = {
    "namespace": "sentiment-prod",
    "image": {"tag": "3f2a9c1"},
    "secretName": "sentiment-secrets",
    "redis": {"url": "rediss://redis.prod.internal:6380/2", "passwordKey": "REDIS_AUTH"},
    "gateway": {"hpa": {"minReplicas": 3, "maxReplicas": 12, "cpuUtilization": 60}, "pdb": {"minAvailable": 2}},
    "ingress": {"enabled": True, "host": "api.air-paradis.example", "tlsSecretName": "api-tls"},
    "inferenceWorker": {"keda": {"minReplicas": 2, "maxReplicas": 20, "streamLength": 200}},
    "trainingWorker": {"keda": {"maxReplicas": 4, "listLength": 3, "cooldownPeriod": 1800}},
    "ui": {"replicas": 2},
    "predictionLog": {"urlKey": "PREDICTION_LOG_DSN"},
    "logWriter": {"replicas": 3, "retentionDays": 30, "exportsClaimName": "log-exports"},
}
DEV_POSTGRES_VALUES = {"predictionLog": {"devPostgres": {"enabled": True, "storageClassName": "standard"}}}


@pytest.fixture(scope="module")
def operator() -> list[Manifest]:
    return renderer.render(_values(**OPERATOR_VALUES))


@pytest.mark.parametrize(
    "which", ["default", "operator", "keda-off", "no-redis-password", "lag-scaling", "dev-postgres"]
)
def test_every_object_is_valid(which: str) -> None:
    values = {
        "default": _values(),
        "operator": _values(**OPERATOR_VALUES),
        "keda-off": _values(inferenceWorker={"keda": {"enabled": False}}, trainingWorker={"keda": {"enabled": False}}),
        "no-redis-password": _values(redis={"passwordKey": ""}),
        "lag-scaling": _values(inferenceWorker={"keda": {"lagCount": 32}}),
        "dev-postgres": _values(**DEV_POSTGRES_VALUES),
    }[which]
    manifests = renderer.render(values)
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    for manifest in manifests:
        _validate(manifest)


def test_a_misspelt_keda_field_is_refused(default: list[Manifest]) -> None:
    scaled = copy.deepcopy(_by_kind(default, "ScaledObject")["inference-worker"])
    scaled["spec"]["pollinginterval"] = 5
    with pytest.raises(jsonschema.ValidationError):
        _validate(scaled)


def test_the_committed_manifests_are_the_defaults_rendered(default: list[Manifest]) -> None:
    assert RENDERED.read_text() == renderer.to_yaml(default), (
        "deploy/k8s/air-paradis.yaml is stale: python deploy/k8s/render.py -o deploy/k8s/air-paradis.yaml"
    )


def test_services_components_and_probes(default: list[Manifest]) -> None:
    deployments = _by_kind(default, "Deployment")
    assert set(deployments) == {"gateway", "inference-worker", "training-worker", "alerting", "log-writer", "ui"}
    for name, container in _containers(default):
        assert {"requests", "limits"} <= set(container["resources"]), name
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        assert "livenessProbe" in container, name
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health"
    log_writer = deployments["log-writer"]["spec"]
    assert log_writer["replicas"] == 1
    writer = log_writer["template"]["spec"]["containers"][0]
    # No HTTP health endpoint: its probes read the age of the file its loop touches, as the image's HEALTHCHECK does.
    assert "LOG_WRITER_ALIVE_FILE" in writer["livenessProbe"]["exec"]["command"][-1]
    assert _env(writer)["METRICS_PORT"]["value"] == "9100"
    assert log_writer["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    assert writer["volumeMounts"] == [{"name": "exports", "mountPath": "/var/lib/log-writer/exports"}]
    assert log_writer["template"]["spec"]["volumes"] == [{"name": "exports", "emptyDir": {}}]
    alerting = deployments["alerting"]["spec"]
    assert alerting["replicas"] == 1 and alerting["strategy"] == {"type": "Recreate"}
    hpa = _by_kind(default, "HorizontalPodAutoscaler")["gateway"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "gateway"
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    for name, pdb in _by_kind(default, "PodDisruptionBudget").items():
        assert pdb["spec"]["selector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]
    assert set(_by_kind(default, "PodDisruptionBudget")) == {"gateway", "inference-worker"}


def test_the_prediction_log_url_comes_from_the_secret(default: list[Manifest]) -> None:
    readers = {name: _env(container) for name, container in _containers(default)}
    for name in ("gateway", "training-worker", "log-writer"):
        assert readers[name]["PREDICTION_LOG_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "air-paradis",
            "key": "PREDICTION_LOG_URL",
        }, name
    for name in ("inference-worker", "alerting", "ui"):
        assert "PREDICTION_LOG_URL" not in readers[name], name
    # A managed PostgreSQL by default: no database of the cluster's own.
    assert not _by_kind(default, "StatefulSet")


def test_a_dev_postgres_in_the_cluster_backs_the_prediction_log() -> None:
    manifests = renderer.render(_values(**DEV_POSTGRES_VALUES))
    database = _by_kind(manifests, "StatefulSet")["prediction-log-db"]["spec"]
    service = _by_kind(manifests, "Service")["prediction-log-db"]["spec"]
    assert service["clusterIP"] == "None" and database["serviceName"] == "prediction-log-db"
    assert service["selector"] == database["selector"]["matchLabels"]
    [claim] = database["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["storageClassName"] == "standard"
    [postgres] = database["template"]["spec"]["containers"]
    assert _env(postgres)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "PREDICTION_LOG_DB_PASSWORD"
    assert postgres["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    for name, container in _containers(manifests):
        env = _env(container)
        if name not in ("gateway", "training-worker", "log-writer"):
            continue
        names = [item["name"] for item in container["env"]]
        assert names.index("PREDICTION_LOG_DB_PASSWORD") < names.index("PREDICTION_LOG_URL"), name
        assert env["PREDICTION_LOG_URL"]["value"] == (
            "postgresql+psycopg://airparadis:$(PREDICTION_LOG_DB_PASSWORD)@prediction-log-db.air-paradis.svc:5432/"
            "prediction_log"
        )


def test_secrets_are_referenced_never_written(default: list[Manifest]) -> None:
    assert "Secret" not in {m["kind"] for m in default}
    for name, container in _containers(default):
        for item in container["env"]:
            if "valueFrom" in item:
                assert item["valueFrom"]["secretKeyRef"]["name"] == "air-paradis", (name, item)
            else:
                assert not any(word in item["name"] for word in ("PASSWORD", "API_KEY", "SIGNING")), (name, item)


def test_redis_url_takes_the_password_from_the_secret_before_it_is_used(default: list[Manifest]) -> None:
    for name, container in _containers(default):
        names = [item["name"] for item in container["env"]]
        assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL"), name
        assert _env(container)["REDIS_URL"]["value"] == (
            "redis://:$(REDIS_PASSWORD)@redis.air-paradis.svc.cluster.local:6379/0"
        )


def test_keda_scales_workers_on_redis(default: list[Manifest]) -> None:
    scaled = _by_kind(default, "ScaledObject")
    deployments = _by_kind(default, "Deployment")
    inference, training = scaled["inference-worker"]["spec"], scaled["training-worker"]["spec"]
    [calls] = inference["triggers"]
    assert calls["type"] == "redis-streams"
    assert calls["metadata"]["stream"] == "inference:calls" and calls["metadata"]["streamLength"] == "64"
    assert inference["minReplicaCount"] >= 1
    [queue] = training["triggers"]
    assert queue["type"] == "redis" and queue["metadata"]["listName"] == "training"
    assert training["minReplicaCount"] == 0
    for name, spec in scaled.items():
        # KEDA owns the count: a replicas field would be reset by every `kubectl apply`.
        assert spec["spec"]["scaleTargetRef"]["name"] == name
        assert "replicas" not in deployments[name]["spec"], name
        for trigger in spec["spec"]["triggers"]:
            assert set(trigger["metadata"]) <= TRIGGER_KEYS[trigger["type"]], trigger
            assert all(isinstance(value, str) for value in trigger["metadata"].values()), trigger
            assert trigger["authenticationRef"]["name"] in _by_kind(default, "TriggerAuthentication")
    [auth] = _by_kind(default, "TriggerAuthentication").values()
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "air-paradis", "key": "REDIS_PASSWORD"}
    ]


def test_an_operators_values_reach_every_object(operator: list[Manifest]) -> None:
    assert {m["metadata"]["namespace"] for m in operator if m["kind"] != "Namespace"} == {"sentiment-prod"}
    for name, container in _containers(operator):
        assert container["image"].endswith(f"/air-paradis-{name}:3f2a9c1"), container["image"]
        assert _env(container)["REDIS_URL"]["value"] == "rediss://:$(REDIS_PASSWORD)@redis.prod.internal:6380/2"
        assert _env(container)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "sentiment-secrets",
            "key": "REDIS_AUTH",
        }
    hpa = _by_kind(operator, "HorizontalPodAutoscaler")["gateway"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert _by_kind(operator, "PodDisruptionBudget")["gateway"]["spec"]["minAvailable"] == 2
    assert _by_kind(operator, "Deployment")["ui"]["spec"]["replicas"] == 2
    log_writer = _by_kind(operator, "Deployment")["log-writer"]["spec"]
    assert log_writer["replicas"] == 3
    assert log_writer["template"]["spec"]["volumes"] == [
        {"name": "exports", "persistentVolumeClaim": {"claimName": "log-exports"}}
    ]
    for name, container in _containers(operator):
        if name in ("gateway", "training-worker", "log-writer"):
            assert _env(container)["PREDICTION_LOG_URL"]["valueFrom"]["secretKeyRef"] == {
                "name": "sentiment-secrets",
                "key": "PREDICTION_LOG_DSN",
            }, name
    writer_env = _env(log_writer["template"]["spec"]["containers"][0])
    assert writer_env["PREDICTION_LOG_RETENTION_DAYS"]["value"] == "30"
    ingress = _by_kind(operator, "Ingress")["gateway"]["spec"]
    assert ingress["rules"][0]["host"] == "api.air-paradis.example" and ingress["tls"][0]["secretName"] == "api-tls"
    scaled = _by_kind(operator, "ScaledObject")
    calls = scaled["inference-worker"]["spec"]
    assert (calls["minReplicaCount"], calls["maxReplicaCount"]) == (2, 20)
    assert calls["triggers"][0]["metadata"] == {
        "address": "redis.prod.internal:6380",
        "databaseIndex": "2",
        "stream": "inference:calls",
        "streamLength": "200",
        "enableTLS": "true",
    }
    queue = scaled["training-worker"]["spec"]
    assert (queue["minReplicaCount"], queue["maxReplicaCount"], queue["cooldownPeriod"]) == (0, 4, 1800)
    assert queue["triggers"][0]["metadata"]["listLength"] == "3"
    [auth] = _by_kind(operator, "TriggerAuthentication").values()
    assert auth["spec"]["secretTargetRef"][0] == {
        "parameter": "password",
        "name": "sentiment-secrets",
        "key": "REDIS_AUTH",
    }


def test_lag_scaling_reads_the_consumer_group() -> None:
    manifests = renderer.render(_values(inferenceWorker={"keda": {"lagCount": 32}}))
    metadata = _by_kind(manifests, "ScaledObject")["inference-worker"]["spec"]["triggers"][0]["metadata"]
    assert (metadata["consumerGroup"], metadata["lagCount"]) == ("inference-workers", "32")
    assert "streamLength" not in metadata


def test_without_keda_the_deployments_carry_their_replicas() -> None:
    manifests = renderer.render(
        _values(
            inferenceWorker={"keda": {"enabled": False}, "replicas": 3}, trainingWorker={"keda": {"enabled": False}}
        )
    )
    assert not _by_kind(manifests, "ScaledObject") and not _by_kind(manifests, "TriggerAuthentication")
    deployments = _by_kind(manifests, "Deployment")
    assert deployments["inference-worker"]["spec"]["replicas"] == 3
    assert deployments["training-worker"]["spec"]["replicas"] == 1


def test_a_redis_without_password() -> None:
    manifests = renderer.render(_values(redis={"passwordKey": ""}))
    for _, container in _containers(manifests):
        assert "REDIS_PASSWORD" not in _env(container)
        assert _env(container)["REDIS_URL"]["value"] == "redis://redis.air-paradis.svc.cluster.local:6379/0"
    assert not _by_kind(manifests, "TriggerAuthentication")
    for scaled in _by_kind(manifests, "ScaledObject").values():
        assert "authenticationRef" not in scaled["spec"]["triggers"][0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:hunter2@redis:6379/0", "must not carry credentials"),
        ("http://redis:6379/0", "must look like redis://"),
        ("redis://redis:6379/cache", "database must be a number"),
    ],
)
def test_bad_redis_urls_are_refused_with_what_to_fix(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        renderer.render(_values(redis={"url": url}))
    values = tmp_path / "bad.yaml"
    values.write_text(yaml.safe_dump({"redis": {"url": url}}))
    completed = subprocess.run(
        [sys.executable, str(K8S / "render.py"), "--values", str(values)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2 and message in completed.stderr, completed.stderr
    assert "hunter2" not in completed.stderr
