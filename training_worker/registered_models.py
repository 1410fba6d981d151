"""Registered versions as the training worker reads them: only once their signed manifest holds.

Re-scoring a champion or scoring with a teacher loads a pyfunc, which unpickles: so the whole folder is first
checked against its manifest (every file's digest, no unlisted file) under the shared signing key.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from sentiment_model.manifest import MANIFEST_FILE, Manifest, ModelNotTrusted, read_verified
from sentiment_model.pyfunc import SentimentPyfunc


@dataclass(frozen=True)
class VerifiedModel:
    name: str
    version: str
    manifest: Manifest
    model: SentimentPyfunc


def _version_source(name: str, version: str, tracking_uri: str | None) -> str:
    """Where the version's files are, asked of this registry (a `models:/` URI would use the process default)."""
    return MlflowClient(tracking_uri, registry_uri=tracking_uri).get_model_version_download_uri(name, version)


def verified_manifest(name: str, version: str, signing_key: str, tracking_uri: str | None = None) -> Manifest:
    """The version's signed figures (threshold, test KPIs, split), without downloading the model itself."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            source = _version_source(name, version, tracking_uri)
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{source}/{MANIFEST_FILE}", dst_path=tmp, tracking_uri=tracking_uri
            )
        except Exception as exc:
            raise ModelNotTrusted(f"{name} v{version}: no {MANIFEST_FILE} ({exc.__class__.__name__})") from None
        manifest = Manifest.from_json((Path(tmp) / MANIFEST_FILE).read_bytes())
    manifest.verify_signature(signing_key)
    return manifest


def load_verified(
    name: str, version: str, signing_key: str, work_dir: Path, tracking_uri: str | None = None
) -> VerifiedModel:
    """Download the whole version, check every file against the signed manifest, then load its pyfunc."""
    source = _version_source(name, version, tracking_uri)
    folder = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(work_dir), tracking_uri=tracking_uri)
    )
    manifest = read_verified(folder, signing_key)
    model = mlflow.pyfunc.load_model(str(folder)).unwrap_python_model()
    if not isinstance(model, SentimentPyfunc):
        raise ModelNotTrusted(f"{name} v{version} is not a sentiment pyfunc ({type(model).__name__})")
    return VerifiedModel(name, version, manifest, model)
