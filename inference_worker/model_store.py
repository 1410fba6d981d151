"""The served model: loads the champion, smoke-tests a candidate, swaps atomically, keeps the last good one."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient

from inference_worker import metrics
from sentiment_model.lstm import LstmSentimentModel
from shared.heap import freeze_long_lived
from shared.logging_setup import kv
from shared.registry import EMBEDDING_TYPE_TAG

log = logging.getLogger(__name__)

SMOKE_TWEETS = ("@united thank you, the crew was wonderful!", "@united lost my bag again, worst airline ever")


@dataclass(frozen=True)
class ServingModel:
    model: LstmSentimentModel
    name: str
    version: str
    embedding_type: str
    loaded_at: float


class ModelRefused(RuntimeError):
    """A candidate version that failed to load or failed its smoke prediction; the old one keeps serving."""


class ModelStore:
    def __init__(self, tracking_uri: str, model_name: str, alias: str) -> None:
        self._tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self._current: ServingModel | None = None
        self._swap_lock = threading.Lock()
        self.reload_count = 0
        self.registry_ok = True
        self.last_error: str | None = None
        self.last_check_at: float = 0.0

    @property
    def current(self) -> ServingModel | None:
        return self._current

    def _client(self) -> MlflowClient:
        return MlflowClient(self._tracking_uri)

    def champion_version(self) -> tuple[str, str]:
        """(version, embedding_type) of the alias now, straight from the registry."""
        version = self._client().get_model_version_by_alias(self.model_name, self.alias)
        return str(version.version), (version.tags or {}).get(EMBEDDING_TYPE_TAG, "unknown")

    def _load(self, version: str, embedding_type: str) -> ServingModel:
        mlflow.set_tracking_uri(self._tracking_uri)
        # Pin the version, not the alias: the alias may move again while we load.
        pyfunc = mlflow.pyfunc.load_model(f"models:/{self.model_name}/{version}")
        model = pyfunc.unwrap_python_model()
        if not isinstance(model, LstmSentimentModel):
            raise ModelRefused(f"version {version} is not an LSTM pyfunc model ({type(model).__name__})")
        probabilities = model.predict_proba(list(SMOKE_TWEETS))
        if len(probabilities) != len(SMOKE_TWEETS) or not all(
            math.isfinite(float(p)) and 0.0 <= float(p) <= 1.0 for p in probabilities
        ):
            raise ModelRefused(f"version {version} failed its smoke prediction: {list(probabilities)!r}")
        return ServingModel(model, self.model_name, version, embedding_type, time.time())

    def refresh(self) -> bool:
        """Load the alias's version if it differs from the one served; True when a new model was swapped in.

        Registry or artifact store down, or a broken candidate: the last good model keeps serving and the
        reason is kept in `last_error` for /ready.
        """
        with self._swap_lock:
            self.last_check_at = time.time()
            try:
                version, embedding_type = self.champion_version()
            except Exception as exc:
                self.registry_ok = False
                self.last_error = f"registry unreachable: {exc.__class__.__name__}: {str(exc)[:200]}"
                log.warning("champion check failed %s", kv(model=self.model_name, error=self.last_error))
                return False
            self.registry_ok = True
            current = self._current
            if current is not None and current.version == version:
                self.last_error = None
                return False
            try:
                candidate = self._load(version, embedding_type)
            except Exception as exc:
                self.last_error = f"version {version} refused: {exc.__class__.__name__}: {str(exc)[:300]}"
                log.error("model refused %s", kv(model=self.model_name, version=version, error=self.last_error))
                metrics.REFUSED.inc()
                return False
            self._current = candidate  # one reference assignment: each batch sees the old or the new model
            previous = current.version if current else None
            # Unreachable from here on, so the collection below reclaims it. A batch still running on it keeps it
            # alive through the collection; its cycles then wait for the next swap's (at most one old model).
            current = None
            self.reload_count += 1
            self.last_error = None
            metrics.RELOADS.inc()
            metrics.set_serving_version(self.model_name, version, previous)
            pause_ms = freeze_long_lived()
            log.info(
                "model loaded %s",
                kv(
                    model=self.model_name,
                    version=version,
                    embedding_type=embedding_type,
                    fast_path=candidate.model.fast_path_name,
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
            "fast_path": current.model.fast_path_name if current else None,
            "registry_ok": self.registry_ok,
            "last_error": self.last_error,
            "reload_count": self.reload_count,
        }
