"""Registered versions as the training worker reads them: only once their signed manifest holds.

Re-scoring a champion or scoring with a teacher loads a pyfunc, which unpickles: so the whole folder is first
checked against its manifest (every file's digest, no unlisted file) under the shared signing key.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow

from sentiment_model.manifest import MANIFEST_FILE, Manifest, ModelNotTrusted, read_verified
from sentiment_model.pyfunc import SentimentPyfunc


@dataclass(frozen=True)
class VerifiedModel:
    name: str
    version: str
    manifest: Manifest
    model: SentimentPyfunc


def _version_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def verified_manifest(name: str, version: str, signing_key: str) -> Manifest:
    """The version's signed figures (threshold, test KPIs, split), without downloading the model itself."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{_version_uri(name, version)}/{MANIFEST_FILE}", dst_path=tmp
            )
        except Exception as exc:
            raise ModelNotTrusted(f"{name} v{version}: no {MANIFEST_FILE} ({exc.__class__.__name__})") from None
        manifest = Manifest.from_json((Path(tmp) / MANIFEST_FILE).read_bytes())
    manifest.verify_signature(signing_key)
    return manifest


def load_verified(name: str, version: str, signing_key: str, work_dir: Path) -> VerifiedModel:
    """Download the whole version, check every file against the signed manifest, then load its pyfunc."""
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=_version_uri(name, version), dst_path=str(work_dir)))
    manifest = read_verified(folder, signing_key)
    model = mlflow.pyfunc.load_model(str(folder)).unwrap_python_model()
    if not isinstance(model, SentimentPyfunc):
        raise ModelNotTrusted(f"{name} v{version} is not a sentiment pyfunc ({type(model).__name__})")
    return VerifiedModel(name, version, manifest, model)
