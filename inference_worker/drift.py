"""Rolling statistics of what this process serves, per model version: out-of-vocabulary share, the distribution of
probability_positive (PSI against the version's own test split), positive share and mean tweet length.

Counts go into one-minute buckets and the window is the last `drift_window_s` of them, so that old traffic leaves
the statistics; each heartbeat publishes the window to Redis (the gateway's /stats/drift and alerting sum every
live worker's) and sets this process's Prometheus gauges.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import redis
from pydantic import ValidationError

from inference_worker import metrics
from sentiment_model.encoder import SequenceEncoder
from shared import redis_keys
from shared.drift import DRIFT_REFERENCE_KEY, stats_of
from shared.logging_setup import kv
from shared.schemas.base import utc_now
from shared.schemas.drift import PROBABILITY_BINS, DriftCounts, DriftReference, VersionDriftCounts, WorkerDrift

if TYPE_CHECKING:  # the model store imports MLflow; the window itself needs none of it
    from inference_worker.model_store import ServingModel

log = logging.getLogger(__name__)

BUCKET_S = 60.0


def reference_in(metadata: dict[str, Any]) -> DriftReference | None:
    """The signed reference of a version; None for versions trained before one was saved (or an unreadable one)."""
    raw = metadata.get(DRIFT_REFERENCE_KEY)
    if raw is None:
        return None
    try:
        return DriftReference.model_validate(raw)
    except ValidationError:
        log.warning("unreadable drift reference in the manifest, no PSI for this version")
        return None


def counts_of(texts: Sequence[str], probabilities: np.ndarray, ids: np.ndarray, threshold: float) -> DriftCounts:
    """One batch's counts; `ids` is the encoded batch, whose non-padding ids are the tokens the model read."""
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    bins = np.clip((probabilities * PROBABILITY_BINS).astype(np.int64), 0, PROBABILITY_BINS - 1)
    tokens, oov_tokens = SequenceEncoder.token_counts(ids)
    return DriftCounts(
        predictions=len(texts),
        positives=int((probabilities >= threshold).sum()),
        text_chars=sum(len(text) for text in texts),
        tokens=tokens,
        oov_tokens=oov_tokens,
        probability_counts=np.bincount(bins, minlength=PROBABILITY_BINS).tolist(),
    )


class DriftWatch:
    def __init__(self, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        # (model name, version) -> bucket number -> counts
        self._buckets: dict[tuple[str, str], dict[int, DriftCounts]] = {}
        self._references: dict[tuple[str, str], DriftReference | None] = {}
        self._gauged: set[str] = set()

    def observe(self, serving: ServingModel, texts: Sequence[str], probabilities: np.ndarray, ids: np.ndarray) -> None:
        """One model call's tweets, their probabilities and their encoded ids, counted for the version that served."""
        batch = counts_of(texts, probabilities, ids, serving.threshold)
        key = (serving.name, serving.version)
        bucket = int(self.clock() // BUCKET_S)
        with self._lock:
            if key not in self._references:
                self._references[key] = reference_in(serving.model.metadata)
            buckets = self._buckets.setdefault(key, {})
            held = buckets.get(bucket)
            buckets[bucket] = batch if held is None else held.add(batch)

    def window(self) -> list[VersionDriftCounts]:
        """The counts of the last `window_s`, per version served in it; older buckets are dropped."""
        oldest = int((self.clock() - self.window_s) // BUCKET_S) + 1
        versions = []
        with self._lock:
            for key in list(self._buckets):
                buckets = self._buckets[key]
                for bucket in [b for b in buckets if b < oldest]:
                    del buckets[bucket]
                if not buckets:
                    del self._buckets[key]
                    self._references.pop(key, None)
                    continue
                total = DriftCounts()
                for counts in buckets.values():
                    total = total.add(counts)
                versions.append(
                    VersionDriftCounts(
                        model_name=key[0], model_version=key[1], counts=total, reference=self._references.get(key)
                    )
                )
        return versions

    def publish(self, client: redis.Redis | redis.client.Pipeline, worker_id: str, ttl_s: int) -> None:
        """Write the window beside the heartbeat (same lifetime) and refresh this process's gauges."""
        versions = self.window()
        state = WorkerDrift(worker_id=worker_id, window_s=self.window_s, updated_at=utc_now(), versions=versions)
        client.set(redis_keys.inference_drift(worker_id), state.model_dump_json(), ex=ttl_s)
        self._set_gauges(versions)

    def _set_gauges(self, versions: list[VersionDriftCounts]) -> None:
        served = set()
        for entry in versions:
            stats = stats_of(entry.model_name, entry.model_version, entry.counts, entry.reference, self.window_s)
            metrics.set_drift(stats)
            served.add(entry.model_version)
        for version in self._gauged - served:
            metrics.clear_drift(version)
            log.info("drift window emptied %s", kv(model_version=version))
        self._gauged = served
