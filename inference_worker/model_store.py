"""The served model: fetches the champion as data, checks its signed manifest, swaps it in, keeps the last good one.

The registry is writable by whoever reaches MLflow, so a version proves nothing by itself. Only `manifest.json` and
the LSTM's serving files (an ONNX graph, the encoder JSON) are downloaded, and they are parsed only once the
manifest's HMAC under MODEL_SIGNING_KEY and their digests hold: nothing from the registry is unpickled or imported.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from inference_worker import metrics
from sentiment_model.lstm import SERVING_FILES, LstmScorer, load_verified_lstm
from sentiment_model.manifest import MANIFEST_FILE, ModelNotTrusted, read_verified
from shared.heap import freeze_long_lived
from shared.logging_setup import kv

log = logging.getLogger(__name__)

# A progress bar per downloaded file would fill the worker's log on every champion check.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

SMOKE_TWEETS = ("@united thank you, the crew was wonderful!", "@united lost my bag again, worst airline ever")


@dataclass(frozen=True)
class ServingModel:
    model: LstmScorer
    name: str
    version: str
    # From the signed manifest (never from registry tags, which anyone reaching MLflow can set).
    embedding_type: str
    threshold: float
    loaded_at: float


class ModelRefused(RuntimeError):
    """A candidate version that is not trusted, failed to load or failed its smoke prediction; the old one serves."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def download_serving_files(tracking_uri: str, model_name: str, version: str, folder: Path, signing_key: str) -> None:
    """`manifest.json`, then (once its signature holds) the serving files of one version, into `folder`."""
    try:
        # Resolved here with this registry: a `models:/` URI would be resolved with the process's default one.
        client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        source = client.get_model_version_download_uri(model_name, version).rstrip("/")
    except Exception as exc:
        raise ModelRefused(f"no download location ({exc.__class__.__name__}: {_one_line(exc)[:200]})") from exc

    def download(relpath: str) -> None:
        destination = folder / relpath
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{source}/{relpath}", dst_path=str(destination.parent), tracking_uri=tracking_uri
            )
        except Exception as exc:
            detail = f"{exc.__class__.__name__}: {_one_line(exc)[:200]}"
            if relpath == MANIFEST_FILE:
                raise ModelNotTrusted(f"no {MANIFEST_FILE} could be downloaded ({detail})") from exc
            raise ModelRefused(f"could not download {relpath} ({detail})") from exc

    download(MANIFEST_FILE)
    # An unsigned or wrongly signed version stops here, before its larger files are fetched.
    read_verified(folder, signing_key, names=())
    for relpath in SERVING_FILES:
        download(relpath)


class ModelStore:
    def __init__(self, tracking_uri: str, model_name: str, alias: str, signing_key: str) -> None:
        self._tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self._signing_key = signing_key
        self._current: ServingModel | None = None
        self._swap_lock = threading.Lock()
        self.reload_count = 0
        self.registry_ok = True
        self.last_error: str | None = None
        self.refused_version: str | None = None
        self.last_check_at: float = 0.0

    @property
    def current(self) -> ServingModel | None:
        return self._current

    def champion_version(self) -> str:
        """The version holding the alias now, straight from the registry."""
        client = MlflowClient(self._tracking_uri, registry_uri=self._tracking_uri)
        version = client.get_model_version_by_alias(self.model_name, self.alias)
        return str(version.version)

    def _load(self, version: str) -> ServingModel:
        # Pin the version, not the alias: the alias may move again while we load.
        with tempfile.TemporaryDirectory(prefix="model-") as tmp:
            folder = Path(tmp)
            download_serving_files(self._tracking_uri, self.model_name, version, folder, self._signing_key)
            scorer, _manifest = load_verified_lstm(folder, self._signing_key)
        probabilities = scorer.predict_proba(list(SMOKE_TWEETS))
        if len(probabilities) != len(SMOKE_TWEETS) or not all(
            math.isfinite(float(p)) and 0.0 <= float(p) <= 1.0 for p in probabilities
        ):
            raise ModelRefused(f"version {version} failed its smoke prediction: {list(probabilities)!r}")
        return ServingModel(scorer, self.model_name, version, scorer.embedding_type, scorer.threshold, time.time())

    def refresh(self) -> bool:
        """Load the alias's version if it differs from the one served; True when a new model was swapped in.

        Registry or artifact store down, or a refused candidate: the last good model keeps serving and the
        reason is kept in `last_error` for /ready.
        """
        with self._swap_lock:
            self.last_check_at = time.time()
            try:
                version = self.champion_version()
            except Exception as exc:
                self.registry_ok = False
                self.last_error = f"registry unreachable: {exc.__class__.__name__}: {str(exc)[:200]}"
                log.warning("champion check failed %s", kv(model=self.model_name, error=self.last_error))
                return False
            self.registry_ok = True
            current = self._current
            if current is not None and current.version == version:
                self.last_error = None
                self.refused_version = None
                return False
            try:
                candidate = self._load(version)
            except Exception as exc:
                if isinstance(exc, ModelNotTrusted):
                    reason = f"not trusted: {_one_line(exc)}"
                elif isinstance(exc, ModelRefused):
                    reason = _one_line(exc)
                else:
                    reason = f"{exc.__class__.__name__}: {_one_line(exc)}"
                error = f"version {version} refused: {reason[:300]}"
                # Retried on every check (the artifact store may come back); said once per version and reason.
                repeated = error == self.last_error
                self.last_error, self.refused_version = error, version
                if not repeated:
                    log.error(
                        "model refused %s",
                        kv(
                            model=self.model_name,
                            version=version,
                            serving=current.version if current else None,
                            error=error,
                        ),
                    )
                    metrics.REFUSED.inc()
                return False
            self._current = candidate  # one reference assignment: each batch sees the old or the new model
            previous = current.version if current else None
            # Unreachable from here on, so the collection below reclaims it. A batch still running on it keeps it
            # alive through the collection; its cycles then wait for the next swap's (at most one old model).
            current = None
            self.reload_count += 1
            self.last_error = None
            self.refused_version = None
            metrics.RELOADS.inc()
            metrics.set_serving_version(self.model_name, version, previous)
            pause_ms = freeze_long_lived()
            log.info(
                "model loaded %s",
                kv(
                    model=self.model_name,
                    version=version,
                    embedding_type=candidate.embedding_type,
                    threshold=candidate.threshold,
                    previous=previous,
                    heap_freeze_ms=f"{pause_ms:.0f}",
                ),
            )
            return True

    def describe(self) -> dict[str, object]:
        current = self._current
        return {
            "model_name": self.model_name,
            "model_version": current.version if current else None,
            "embedding_type": current.embedding_type if current else None,
            "threshold": current.threshold if current else None,
            "registry_ok": self.registry_ok,
            "last_error": self.last_error,
            "refused_version": self.refused_version,
            "reload_count": self.reload_count,
        }
