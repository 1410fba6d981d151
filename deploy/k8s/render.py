"""Kubernetes manifests of Air Paradis from one values file: gateway, inference and training workers, alerting, UI,
the log writer (and, for trying it out, a PostgreSQL for the prediction log).

    python deploy/k8s/render.py                                  # the defaults (deploy/k8s/values.yaml)
    python deploy/k8s/render.py --values prod.yaml | kubectl apply -f -

Each --values file is merged over the defaults (mappings key by key, anything else replaced). Redis, MLflow, the
S3 store and the prediction log's PostgreSQL are external (predictionLog.devPostgres runs one in the cluster instead);
secrets are read from an existing Secret (`secretName`), never written here. Inference and
training workers scale with KEDA on Redis: the call stream's backlog and the Celery `training` queue.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_VALUES = HERE / "values.yaml"
# Redis names the services share (shared/redis_keys.py, shared/celery_config.py): what KEDA watches.
CALLS_STREAM = "inference:calls"
CALLS_GROUP = "inference-workers"
TRAINING_QUEUE = "training"
APP_UID = 10001  # the `app` user of every image
POSTGRES_UID = 999  # the `postgres` user of the official image
DEV_POSTGRES = "prediction-log-db"
DEV_POSTGRES_USER = "airparadis"
DEV_POSTGRES_DB = "prediction_log"
# The log writer touches LOG_WRITER_ALIVE_FILE (set by its image) after every loop: stale past 30 s means stuck.
LOG_WRITER_ALIVE = (
    "import os, sys, time; sys.exit(time.time() - os.path.getmtime(os.environ['LOG_WRITER_ALIVE_FILE']) > 30)"
)
LOG_WRITER_EXPORTS = "/var/lib/log-writer/exports"

Values = dict[str, Any]
Manifest = dict[str, Any]


def merge(base: Values, override: Values) -> Values:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_values(paths: list[Path]) -> Values:
    values = yaml.safe_load(DEFAULT_VALUES.read_text())
    for path in paths:
        values = merge(values, yaml.safe_load(path.read_text()) or {})
    return values


class Renderer:
    def __init__(self, values: Values) -> None:
        self.v = values
        self.namespace = values["namespace"]
        self.redis = self._redis_endpoint(values["redis"]["url"])

    @staticmethod
    def _redis_endpoint(url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"redis.url must look like redis://host:port/db (or rediss://), got {url!r}")
        if parts.password or parts.username:
            raise ValueError(
                "redis.url must not carry credentials: the password comes from the Secret (redis.passwordKey)"
            )
        db = parts.path.lstrip("/") or "0"
        if not db.isdigit():
            raise ValueError(f"redis.url's database must be a number, got {db!r}")
        return {"scheme": parts.scheme, "host": parts.hostname, "port": parts.port or 6379, "db": int(db)}

    # --- building blocks --------------------------------------------------------------------------------------

    def _meta(self, name: str, component: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace, "labels": self._labels(component), **extra}

    @staticmethod
    def _labels(component: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": "air-paradis", "app.kubernetes.io/component": component}

    def _image(self, name: str) -> str:
        image = self.v["image"]
        return f"{image['registry']}/{image['namespace']}/air-paradis-{name}:{image['tag']}"

    def _secret(self, name: str, key: str, optional: bool = False) -> dict[str, Any]:
        ref: dict[str, Any] = {"name": self.v["secretName"], "key": key}
        if optional:
            ref["optional"] = True
        return {"name": name, "valueFrom": {"secretKeyRef": ref}}

    def _redis_env(self) -> list[dict[str, Any]]:
        """REDIS_URL with the Secret's password, through Kubernetes' $(VAR) expansion of an earlier variable."""
        r = self.redis
        key = self.v["redis"]["passwordKey"]
        if not key:
            return [{"name": "REDIS_URL", "value": f"{r['scheme']}://{r['host']}:{r['port']}/{r['db']}"}]
        return [
            self._secret("REDIS_PASSWORD", key),
            {"name": "REDIS_URL", "value": f"{r['scheme']}://:$(REDIS_PASSWORD)@{r['host']}:{r['port']}/{r['db']}"},
        ]

    def _mlflow_env(self, writer: bool) -> list[dict[str, Any]]:
        m = self.v["mlflow"]
        role = "writer" if writer else "reader"
        return [
            self._secret("MLFLOW_TRACKING_USERNAME", m[f"{role}UsernameKey"]),
            self._secret("MLFLOW_TRACKING_PASSWORD", m[f"{role}PasswordKey"]),
        ]

    def _prediction_log_env(self) -> list[dict[str, Any]]:
        """PREDICTION_LOG_URL: the Secret's URL of a managed PostgreSQL, or the dev database's with its password."""
        log_values = self.v["predictionLog"]
        dev = log_values["devPostgres"]
        if not dev["enabled"]:
            return [self._secret("PREDICTION_LOG_URL", log_values["urlKey"])]
        host = f"{DEV_POSTGRES}.{self.namespace}.svc"
        url = f"postgresql+psycopg://{DEV_POSTGRES_USER}:$(PREDICTION_LOG_DB_PASSWORD)@{host}:5432/{DEV_POSTGRES_DB}"
        return [
            self._secret("PREDICTION_LOG_DB_PASSWORD", dev["passwordKey"]),
            {"name": "PREDICTION_LOG_URL", "value": url},
        ]

    def _container(
        self,
        name: str,
        image: str,
        env: list[dict[str, Any]],
        resources: Values,
        *,
        ports: list[dict[str, Any]] | None = None,
        probes: dict[str, Any] | None = None,
        args: list[str] | None = None,
        volume_mounts: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        container: dict[str, Any] = {
            "name": name,
            "image": self._image(image),
            "imagePullPolicy": self.v["image"]["pullPolicy"],
            "envFrom": [{"configMapRef": {"name": "air-paradis"}}],
            "env": env,
            "resources": resources,
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": True,
                "runAsUser": APP_UID,
            },
        }
        if args:
            container["args"] = args
        if ports:
            container["ports"] = ports
        if volume_mounts:
            container["volumeMounts"] = volume_mounts
        container.update(probes or {})
        return container

    @classmethod
    def _exec_probe(cls, check: str, period_s: int, timeout_s: int, failures: int) -> dict[str, Any]:
        return cls._exec_probe_command(["python", "/app/healthcheck.py", check], period_s, timeout_s, failures)

    @staticmethod
    def _exec_probe_command(command: list[str], period_s: int, timeout_s: int, failures: int) -> dict[str, Any]:
        return {
            "exec": {"command": command},
            "periodSeconds": period_s,
            "timeoutSeconds": timeout_s,
            "failureThreshold": failures,
        }

    @staticmethod
    def _http_probe(path: str, port: str, period_s: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": port},
            "periodSeconds": period_s,
            "timeoutSeconds": 3,
            "failureThreshold": failures,
        }

    def _deployment(
        self,
        name: str,
        component: str,
        containers: list[dict[str, Any]],
        replicas: int | None,
        *,
        annotations: dict[str, str] | None = None,
        strategy: dict[str, Any] | None = None,
        grace_s: int | None = None,
        volumes: list[dict[str, Any]] | None = None,
    ) -> Manifest:
        pod_spec: dict[str, Any] = {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "fsGroup": APP_UID, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": containers,
        }
        if grace_s is not None:
            pod_spec["terminationGracePeriodSeconds"] = grace_s
        if volumes:
            pod_spec["volumes"] = volumes
        spec: dict[str, Any] = {
            "selector": {"matchLabels": self._labels(component)},
            "template": {
                "metadata": {
                    "labels": self._labels(component),
                    **({"annotations": annotations} if annotations else {}),
                },
                "spec": pod_spec,
            },
        }
        # Left out when an autoscaler owns the count, so that `kubectl apply` does not reset it.
        if replicas is not None:
            spec["replicas"] = replicas
        if strategy:
            spec["strategy"] = strategy
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self._meta(name, component), "spec": spec}

    def _service(self, name: str, component: str, service: Values, target_port: str) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self._meta(name, component),
            "spec": {
                "type": service["type"],
                "selector": self._labels(component),
                "ports": [{"name": "http", "port": service["port"], "targetPort": target_port}],
            },
        }

    def _pdb(self, name: str, component: str, min_available: int) -> Manifest:
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": self._meta(name, component),
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": self._labels(component)}},
        }

    def _scaled_object(
        self, name: str, component: str, scaling: Values, trigger_type: str, metadata: dict[str, str]
    ) -> Manifest:
        r = self.redis
        trigger_metadata = {"address": f"{r['host']}:{r['port']}", "databaseIndex": str(r["db"]), **metadata}
        if r["scheme"] == "rediss":
            trigger_metadata["enableTLS"] = "true"
        trigger: dict[str, Any] = {"type": trigger_type, "metadata": trigger_metadata}
        if self.v["redis"]["passwordKey"]:
            trigger["authenticationRef"] = {"name": "air-paradis-redis"}
        return {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": self._meta(name, component),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicaCount": scaling["minReplicas"],
                "maxReplicaCount": scaling["maxReplicas"],
                "pollingInterval": scaling["pollingInterval"],
                "cooldownPeriod": scaling["cooldownPeriod"],
                "triggers": [trigger],
            },
        }

    # --- objects ----------------------------------------------------------------------------------------------

    def config_map(self) -> Manifest:
        a = self.v["alerting"]
        data = {
            "ENVIRONMENT": "production",
            "LOG_LEVEL": self.v["logLevel"],
            "MLFLOW_TRACKING_URI": self.v["mlflow"]["trackingUri"],
            "MLFLOW_UI_URL": self.v["mlflow"]["publicUrl"],
            "MLFLOW_S3_ENDPOINT_URL": self.v["s3"]["endpointUrl"],
            "ALERT_THRESHOLD": str(a["threshold"]),
            "ALERT_WINDOW_S": str(a["windowS"]),
            "SMTP_HOST": a["smtpHost"],
            "SMTP_PORT": str(a["smtpPort"]),
            "SMTP_STARTTLS": str(a["smtpStartTls"]).lower(),
            "MAIL_FROM": a["mailFrom"],
            "MAIL_TO": a["mailTo"],
        }
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self._meta("air-paradis", "config"), "data": data}

    def gateway(self) -> list[Manifest]:
        g = self.v["gateway"]
        env = [
            {"name": "HOST", "value": "0.0.0.0"},
            {"name": "PORT", "value": str(g["port"])},
            {"name": "FORWARDED_ALLOW_IPS", "value": g["forwardedAllowIps"]},
            *self._redis_env(),
            *self._mlflow_env(writer=False),
            self._secret("ANALYST_API_KEY", "ANALYST_API_KEY"),
            self._secret("ADMIN_API_KEY", "ADMIN_API_KEY"),
            *self._prediction_log_env(),
        ]
        probes = {
            "startupProbe": self._http_probe("/health", "http", 5, 24),
            "livenessProbe": self._http_probe("/health", "http", 15, 3),
            # Out of the Service while Redis or every worker is unreachable: clients go to a ready replica.
            "readinessProbe": self._http_probe("/ready", "http", 10, 3),
        }
        container = self._container(
            "gateway",
            "gateway",
            env,
            g["resources"],
            ports=[{"name": "http", "containerPort": g["port"]}],
            probes=probes,
        )
        annotations = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(g["port"]),
            "prometheus.io/path": "/metrics",
        }
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": self._meta("gateway", "gateway"),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"},
                "minReplicas": g["hpa"]["minReplicas"],
                "maxReplicas": g["hpa"]["maxReplicas"],
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": g["hpa"]["cpuUtilization"]},
                        },
                    }
                ],
            },
        }
        manifests = [
            self._deployment("gateway", "gateway", [container], None, annotations=annotations),
            self._service("gateway", "gateway", g["service"], "http"),
            hpa,
            self._pdb("gateway", "gateway", g["pdb"]["minAvailable"]),
        ]
        ingress = self.v["ingress"]
        if ingress["enabled"]:
            manifests.append(self._ingress(ingress))
        return manifests

    def _ingress(self, ingress: Values) -> Manifest:
        spec: dict[str, Any] = {
            "ingressClassName": ingress["className"],
            "rules": [
                {
                    "host": ingress["host"],
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "gateway", "port": {"name": "http"}}},
                            }
                        ]
                    },
                }
            ],
        }
        if ingress["tlsSecretName"]:
            spec["tls"] = [{"hosts": [ingress["host"]], "secretName": ingress["tlsSecretName"]}]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": self._meta("gateway", "gateway"),
            "spec": spec,
        }

    def inference_worker(self) -> list[Manifest]:
        w = self.v["inferenceWorker"]
        env = [
            {"name": "METRICS_PORT", "value": str(w["metricsPort"])},
            *self._redis_env(),
            *self._mlflow_env(writer=False),
            self._secret("MODEL_SIGNING_KEY", "MODEL_SIGNING_KEY"),
        ]
        probes = {
            # Model download and load come first: up to 10 minutes before the first heartbeat.
            "startupProbe": self._exec_probe("heartbeat", 10, 10, 60),
            "livenessProbe": self._exec_probe("heartbeat", 15, 10, 4),
        }
        container = self._container(
            "inference-worker",
            "inference-worker",
            env,
            w["resources"],
            ports=[{"name": "metrics", "containerPort": w["metricsPort"]}],
            probes=probes,
        )
        annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(w["metricsPort"])}
        keda = w["keda"]
        manifests = [
            self._deployment(
                "inference-worker",
                "inference-worker",
                [container],
                None if keda["enabled"] else w["replicas"],
                annotations=annotations,
            ),
            self._pdb("inference-worker", "inference-worker", w["pdb"]["minAvailable"]),
        ]
        if keda["enabled"]:
            metadata = {"stream": CALLS_STREAM, "streamLength": str(keda["streamLength"])}
            if keda["lagCount"]:
                metadata = {"stream": CALLS_STREAM, "consumerGroup": CALLS_GROUP, "lagCount": str(keda["lagCount"])}
            manifests.append(
                self._scaled_object("inference-worker", "inference-worker", keda, "redis-streams", metadata)
            )
        return manifests

    def training_worker(self) -> list[Manifest]:
        t = self.v["trainingWorker"]
        env = [
            {"name": "METRICS_PORT", "value": str(t["metricsPort"])},
            *self._redis_env(),
            *self._mlflow_env(writer=True),
            self._secret("MODEL_SIGNING_KEY", "MODEL_SIGNING_KEY"),
            # Retraining policies read the analysts' verdicts from the log.
            *self._prediction_log_env(),
        ]
        probes = {"livenessProbe": self._exec_probe("celery", 60, 15, 5)}
        container = self._container(
            "training-worker",
            "training-worker",
            env,
            t["resources"],
            ports=[{"name": "metrics", "containerPort": t["metricsPort"]}],
            probes=probes,
            args=["worker"],
        )
        keda = t["keda"]
        manifests = [
            self._deployment(
                "training-worker",
                "training-worker",
                [container],
                None if keda["enabled"] else t["replicas"],
                annotations={"prometheus.io/scrape": "true", "prometheus.io/port": str(t["metricsPort"])},
                grace_s=t["terminationGracePeriodSeconds"],
            )
        ]
        if keda["enabled"]:
            metadata = {"listName": TRAINING_QUEUE, "listLength": str(keda["listLength"])}
            manifests.append(self._scaled_object("training-worker", "training-worker", keda, "redis", metadata))
        return manifests

    def alerting(self) -> list[Manifest]:
        a = self.v["alerting"]
        env = [
            {"name": "METRICS_PORT", "value": str(a["metricsPort"])},
            *self._redis_env(),
            *self._mlflow_env(writer=False),
            self._secret("SMTP_USER", "SMTP_USER", optional=True),
            self._secret("SMTP_PASSWORD", "SMTP_PASSWORD", optional=True),
        ]
        probes = {
            "startupProbe": self._exec_probe("alerting", 5, 5, 24),
            "livenessProbe": self._exec_probe("alerting", 15, 5, 3),
        }
        container = self._container(
            "alerting",
            "alerting",
            env,
            a["resources"],
            ports=[{"name": "metrics", "containerPort": a["metricsPort"]}],
            probes=probes,
        )
        annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(a["metricsPort"])}
        # One replica, and never two during a rollout: one process owns the alert rule's window.
        return [
            self._deployment(
                "alerting", "alerting", [container], 1, annotations=annotations, strategy={"type": "Recreate"}
            )
        ]

    def log_writer(self) -> list[Manifest]:
        w = self.v["logWriter"]
        env = [
            {"name": "METRICS_PORT", "value": str(w["metricsPort"])},
            {"name": "PREDICTION_LOG_RETENTION_DAYS", "value": str(w["retentionDays"])},
            *self._redis_env(),
            *self._prediction_log_env(),
        ]
        probes = {
            # The database may be unreachable or migrating at first: the loop starts once the schema is there.
            "startupProbe": self._exec_probe_command(["python", "-c", LOG_WRITER_ALIVE], 5, 5, 60),
            "livenessProbe": self._exec_probe_command(["python", "-c", LOG_WRITER_ALIVE], 15, 5, 3),
        }
        container = self._container(
            "log-writer",
            "log-writer",
            env,
            w["resources"],
            ports=[{"name": "metrics", "containerPort": w["metricsPort"]}],
            probes=probes,
            volume_mounts=[{"name": "exports", "mountPath": LOG_WRITER_EXPORTS}],
        )
        claim = w["exportsClaimName"]
        exports = {"persistentVolumeClaim": {"claimName": claim}} if claim else {"emptyDir": {}}
        annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(w["metricsPort"])}
        return [
            self._deployment(
                "log-writer",
                "log-writer",
                [container],
                w["replicas"],
                annotations=annotations,
                volumes=[{"name": "exports", **exports}],
            )
        ]

    def dev_postgres(self) -> list[Manifest]:
        """One PostgreSQL pod with its own volume, for a cluster that has no managed one yet: no backups, no HA."""
        dev = self.v["predictionLog"]["devPostgres"]
        if not dev["enabled"]:
            return []
        component = DEV_POSTGRES
        ready = ["pg_isready", "-U", DEV_POSTGRES_USER, "-d", DEV_POSTGRES_DB]
        container = {
            "name": "postgres",
            "image": dev["image"],
            "imagePullPolicy": self.v["image"]["pullPolicy"],
            "env": [
                {"name": "POSTGRES_USER", "value": DEV_POSTGRES_USER},
                {"name": "POSTGRES_DB", "value": DEV_POSTGRES_DB},
                self._secret("POSTGRES_PASSWORD", dev["passwordKey"]),
                # A folder below the mount: a fresh volume's root holds lost+found, which initdb refuses.
                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
            ],
            "ports": [{"name": "postgres", "containerPort": 5432}],
            "resources": dev["resources"],
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
            "readinessProbe": self._exec_probe_command(ready, 5, 3, 3),
            "livenessProbe": self._exec_probe_command(ready, 15, 5, 4),
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": True,
                "runAsUser": POSTGRES_UID,
            },
        }
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": dev["storage"]}},
        }
        if dev["storageClassName"]:
            claim_spec["storageClassName"] = dev["storageClassName"]
        statefulset = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": self._meta(DEV_POSTGRES, component),
            "spec": {
                "serviceName": DEV_POSTGRES,
                "replicas": 1,
                "selector": {"matchLabels": self._labels(component)},
                "template": {
                    "metadata": {"labels": self._labels(component)},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": POSTGRES_UID,
                            "fsGroup": POSTGRES_UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                    },
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim_spec}],
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self._meta(DEV_POSTGRES, component),
            "spec": {
                "clusterIP": "None",
                "selector": self._labels(component),
                "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
            },
        }
        return [service, statefulset]

    def ui(self) -> list[Manifest]:
        u = self.v["ui"]
        env = [
            {
                "name": "GATEWAY_URL",
                "value": f"http://gateway.{self.namespace}.svc:{self.v['gateway']['service']['port']}",
            },
            *self._redis_env(),
            *self._mlflow_env(writer=False),
        ]
        probes = {
            "startupProbe": self._http_probe("/_stcore/health", "http", 5, 24),
            "livenessProbe": self._http_probe("/_stcore/health", "http", 15, 3),
            "readinessProbe": self._http_probe("/_stcore/health", "http", 10, 3),
        }
        container = self._container(
            "ui", "ui", env, u["resources"], ports=[{"name": "http", "containerPort": u["port"]}], probes=probes
        )
        return [
            self._deployment("ui", "ui", [container], u["replicas"]),
            self._service("ui", "ui", u["service"], "http"),
        ]

    def trigger_authentication(self) -> list[Manifest]:
        key = self.v["redis"]["passwordKey"]
        scaled = self.v["inferenceWorker"]["keda"]["enabled"] or self.v["trainingWorker"]["keda"]["enabled"]
        if not key or not scaled:
            return []
        return [
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "TriggerAuthentication",
                "metadata": self._meta("air-paradis-redis", "autoscaling"),
                "spec": {"secretTargetRef": [{"parameter": "password", "name": self.v["secretName"], "key": key}]},
            }
        ]

    def render(self) -> list[Manifest]:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        return [
            namespace,
            self.config_map(),
            *self.trigger_authentication(),
            *self.gateway(),
            *self.inference_worker(),
            *self.training_worker(),
            *self.alerting(),
            *self.dev_postgres(),
            *self.log_writer(),
            *self.ui(),
        ]


def render(values: Values) -> list[Manifest]:
    return Renderer(values).render()


def to_yaml(manifests: list[Manifest]) -> str:
    header = "# Rendered by deploy/k8s/render.py from deploy/k8s/values.yaml: edit those, then render again.\n"
    return header + yaml.safe_dump_all(manifests, sort_keys=False, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--values", type=Path, action="append", default=[], help="a values file merged over the defaults"
    )
    parser.add_argument("--output", "-o", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        text = to_yaml(render(load_values(args.values)))
    except (KeyError, ValueError) as exc:
        print(f"render.py: bad values: {exc}", file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
