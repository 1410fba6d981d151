"""Evaluation PNGs of a run, read from the MLflow server's artifact endpoint (the plots every family logs)."""

from __future__ import annotations

import httpx

# What training_worker.tracking logs under `plots/` for every registered version.
EVALUATION_PLOTS = {
    "Confusion matrix": "plots/confusion_matrix.png",
    "ROC curve": "plots/roc_curve.png",
    "Precision–recall curve": "plots/precision_recall_curve.png",
}


class ArtifactUnavailable(Exception):
    """The plot could not be read; the message says whether MLflow is down or the run never logged it."""


def fetch_run_artifact(tracking_uri: str, run_id: str, path: str, timeout_s: float = 10.0) -> bytes:
    url = tracking_uri.rstrip("/") + "/get-artifact"
    try:
        response = httpx.get(url, params={"path": path, "run_uuid": run_id}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ArtifactUnavailable(f"MLflow at {tracking_uri} did not answer ({exc.__class__.__name__})") from exc
    if response.status_code == 404 or (response.status_code >= 400 and "does not exist" in response.text.lower()):
        raise ArtifactUnavailable(f"run {run_id} has no `{path}`")
    if response.status_code != 200:
        raise ArtifactUnavailable(f"MLflow answered {response.status_code} for `{path}` of run {run_id}")
    return response.content
