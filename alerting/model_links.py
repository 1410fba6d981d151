"""Links from a report to the MLflow run that trained each model version, over MLflow's REST API (no mlflow import)."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from shared.logging_setup import kv
from shared.schemas.alerts import ReportedModel

log = logging.getLogger(__name__)


class ModelLinks:
    """Looks up run ids once per model version; a registry that does not answer leaves the link out, never the mail."""

    def __init__(self, tracking_uri: str, ui_base: str, timeout_s: float = 3.0) -> None:
        self.tracking_uri = tracking_uri.rstrip("/")
        self.ui_base = ui_base.rstrip("/")
        self.timeout_s = timeout_s
        self._cache: dict[tuple[str, str], ReportedModel] = {}

    def describe(self, name: str, version: str) -> ReportedModel:
        cached = self._cache.get((name, version))
        if cached is not None:
            return cached
        try:
            described = self._lookup(name, version)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("no MLflow run link %s", kv(model=name, model_version=version, error=repr(exc)[:200]))
            return ReportedModel(name=name, version=version)
        self._cache[(name, version)] = described
        return described

    def _lookup(self, name: str, version: str) -> ReportedModel:
        with httpx.Client(base_url=self.tracking_uri, timeout=self.timeout_s) as client:
            found = client.get("/api/2.0/mlflow/model-versions/get", params={"name": name, "version": version})
            found.raise_for_status()
            run_id = found.json()["model_version"].get("run_id")
            if not run_id:
                return ReportedModel(name=name, version=version)
            run = client.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})
            run.raise_for_status()
            experiment_id = run.json()["run"]["info"]["experiment_id"]
        url = f"{self.ui_base}/#/experiments/{quote(str(experiment_id))}/runs/{quote(run_id)}"
        return ReportedModel(name=name, version=version, run_id=run_id, run_url=url)
