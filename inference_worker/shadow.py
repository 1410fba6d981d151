"""Shadow scoring: the challenger scores a sampled share of live calls beside the champion, off the reply path.

The serving path only offers a finished call (`offer`: a random draw and a non-blocking put, never an exception);
one thread of this process scores it with the challenger later and records both models' labels and model-call
times (shared/shadow_stats.py). A sampled call is skipped, and counted as skipped, when the shadow queue is full
or the challenger has spent its CPU budget, so that shadow scoring can never slow the answers down. The challenger
is loaded by the same checks as the champion (signed manifest, digests, smoke prediction).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from mlflow import MlflowClient

from inference_worker.model_store import ModelStore, ServingModel
from inference_worker.settings import InferenceSettings
from shared.logging_setup import kv
from shared.registry import CHALLENGER_ALIAS, champion_version
from shared.schemas.api import Prediction
from shared.shadow_stats import ShadowStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowCall:
    texts: Sequence[str]
    predictions: Sequence[Prediction]
    champion_ms: float


class ChallengerStore(ModelStore):
    """The version holding `@challenger`, loaded like the champion; none when the alias is unset or is the champion."""

    def __init__(self, settings: InferenceSettings) -> None:
        super().__init__(
            settings.mlflow_tracking_uri,
            settings.lstm_model_name,
            CHALLENGER_ALIAS,
            settings.model_signing_key.get_secret_value(),
        )

    def refresh_challenger(self, champion: str | None) -> bool:
        """Follow the alias; True when the challenger changed. A refused version is retried at the next check."""
        with self._swap_lock:
            self.last_check_at = time.time()
            try:
                client = MlflowClient(self._tracking_uri, registry_uri=self._tracking_uri)
                info = champion_version(client, self.model_name, self.alias)
            except Exception as exc:
                log.warning("challenger check failed %s", kv(model=self.model_name, error=exc.__class__.__name__))
                return False
            version = info.version if info else None
            current = self._current
            if version is None or version == champion:
                self._current = None
                return current is not None
            if current is not None and current.version == version:
                return False
            try:
                self._current = self._load(version)
            except Exception as exc:
                error = f"challenger version {version} refused: {exc.__class__.__name__}: {str(exc)[:200]}"
                if error != self.last_error:
                    log.error("challenger refused %s", kv(model=self.model_name, version=version, error=error))
                self.last_error, self.refused_version, self._current = error, version, None
                return current is not None
            self.last_error = self.refused_version = None
            log.info("challenger loaded %s", kv(model=self.model_name, version=version, champion=champion))
            return True


class CpuBudget:
    """A token bucket of CPU seconds: it refills at `share` seconds per second, up to one second's worth."""

    def __init__(self, share: float) -> None:
        self._share = share
        self._tokens = share
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def available(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._share, self._tokens + (now - self._at) * self._share)
            self._at = now
            return self._tokens > 0

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._tokens -= seconds


class ShadowScorer:
    def __init__(self, settings: InferenceSettings, client: redis.Redis) -> None:
        self._settings = settings
        self.challengers = ChallengerStore(settings)
        self._stats = ShadowStore(client)
        self._queue: queue.Queue[ShadowCall] = queue.Queue(maxsize=settings.shadow_queue_max_calls)
        self._budget = CpuBudget(settings.shadow_cpu_share)
        self._random = random.Random()

    def offer(self, texts: Sequence[str], predictions: Sequence[Prediction], champion_ms: float) -> None:
        """Called on the reply path after the champion answered: never blocks, never raises."""
        try:
            challenger = self.challengers.current
            if challenger is None or not predictions or self._random.random() >= self._settings.shadow_sample_share:
                return
            if predictions[0].model_version == challenger.version:
                return
            if not self._budget.available():
                raise queue.Full
            self._queue.put_nowait(ShadowCall(texts, predictions, champion_ms))
        except queue.Full:
            self._skipped(challenger)
        except Exception:
            log.exception("shadow offer failed")

    def _skipped(self, challenger: ServingModel) -> None:
        with contextlib.suppress(redis.RedisError):
            self._stats.record_skipped(challenger.name, challenger.version)

    def refresh(self, champion: str | None) -> None:
        if self.challengers.refresh_challenger(champion):
            # Calls queued for the previous challenger would be scored by the new one: drop them.
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                call = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._score(call)
            except Exception:
                log.exception("shadow scoring failed %s", kv(model=self.challengers.model_name))

    def _score(self, call: ShadowCall) -> None:
        challenger = self.challengers.current
        if challenger is None:
            return
        probabilities: list[float] = []
        step = self._settings.max_batch_size
        started = time.perf_counter()
        for start in range(0, len(call.texts), step):
            probabilities.extend(
                float(p) for p in challenger.model.predict_proba(list(call.texts[start : start + step]))
            )
        challenger_s = time.perf_counter() - started
        self._budget.spend(challenger_s)
        try:
            self._stats.record_scored(
                challenger.name,
                challenger.version,
                [prediction.prediction_id for prediction in call.predictions],
                [prediction.label for prediction in call.predictions],
                [challenger.model.label_of(p) for p in probabilities],
                call.champion_ms,
                challenger_s * 1000,
                self._settings.prediction_ttl_s,
            )
        except redis.RedisError as exc:
            log.warning("shadow figures not stored %s", kv(version=challenger.version, error=exc.__class__.__name__))
