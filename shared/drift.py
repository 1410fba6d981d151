"""Drift statistics: probability histograms, the population stability index, and the served versions' rolling
statistics as the gateway and alerting read them (summed over every live inference worker)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import redis
from pydantic import ValidationError

from shared import redis_keys
from shared.schemas.drift import PROBABILITY_BINS, DriftCounts, DriftReference, DriftStats, WorkerDrift

# The signed manifest's metadata key that holds a version's DriftReference (training writes it, serving reads it).
DRIFT_REFERENCE_KEY = "drift_reference"
# A bin empty on one side would make the index infinite: shares are floored at this (the usual convention).
PSI_FLOOR = 1e-4


def probability_bin(probability_positive: float) -> int:
    return min(PROBABILITY_BINS - 1, max(0, int(probability_positive * PROBABILITY_BINS)))


def histogram(probabilities: Iterable[float]) -> list[int]:
    counts = [0] * PROBABILITY_BINS
    for probability in probabilities:
        counts[probability_bin(probability)] += 1
    return counts


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total for count in counts] if total else [0.0] * len(counts)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of `actual` against `expected` (both shares per bin): 0 when alike; above 0.25
    is commonly read as a major shift."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, PSI_FLOOR), max(a, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def reference_of(
    texts: Sequence[str], probabilities: Sequence[float], threshold: float, oov_share: float | None
) -> DriftReference:
    """The reference of a test split: what serving's statistics are compared with."""
    probabilities = [float(p) for p in probabilities]
    rows = len(probabilities)
    return DriftReference(
        rows=rows,
        probability_histogram=shares(histogram(probabilities)),
        positive_share=sum(1 for p in probabilities if p >= threshold) / rows if rows else 0.0,
        mean_text_chars=sum(len(t) for t in texts) / len(texts) if texts else 0.0,
        oov_share=oov_share,
    )


def stats_of(
    model_name: str,
    model_version: str,
    counts: DriftCounts,
    reference: DriftReference | None,
    window_s: float,
    workers: int = 1,
) -> DriftStats:
    served = counts.predictions
    probability_shares = shares(counts.probability_counts)
    # A reference binned otherwise (another bin count) compares nothing: no PSI rather than a wrong one.
    comparable = reference is not None and len(reference.probability_histogram) == len(probability_shares)
    return DriftStats(
        model_name=model_name,
        model_version=model_version,
        workers=workers,
        window_s=window_s,
        predictions=served,
        oov_share=counts.oov_tokens / counts.tokens if counts.tokens else None,
        positive_share=counts.positives / served if served else None,
        mean_text_chars=counts.text_chars / served if served else None,
        probability_histogram=probability_shares,
        psi=psi(reference.probability_histogram, probability_shares) if comparable and served else None,
        reference=reference,
    )


def served_drift(client: redis.Redis) -> list[DriftStats]:
    """Every version live workers served within their window, its counts summed over them, newest version first."""
    worker_ids = [
        w.decode() if isinstance(w, bytes) else w for w in client.zrange(redis_keys.INFERENCE_WORKERS_INDEX, 0, -1)
    ]
    if not worker_ids:
        return []
    merged: dict[tuple[str, str], tuple[DriftCounts, DriftReference | None, int, float]] = {}
    for raw in client.mget([redis_keys.inference_drift(w) for w in worker_ids]):
        if raw is None:
            continue
        try:
            worker = WorkerDrift.model_validate_json(raw)
        except ValidationError:
            continue
        for entry in worker.versions:
            key = (entry.model_name, entry.model_version)
            counts, reference, workers, window_s = merged.get(key, (DriftCounts(), None, 0, 0.0))
            merged[key] = (
                counts.add(entry.counts),
                reference or entry.reference,
                workers + 1,
                max(window_s, worker.window_s),
            )
    stats = [
        stats_of(name, version, counts, reference, window_s, workers)
        for (name, version), (counts, reference, workers, window_s) in merged.items()
    ]
    return sorted(stats, key=lambda s: (s.model_name, -int(s.model_version) if s.model_version.isdigit() else 0))
