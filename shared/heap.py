"""Keeps CPython's cycle collector off the objects a serving process holds for its whole life.

Why: a full collection walks every tracked object, and a serving process holds many that never die (its frameworks,
clients and model); once enough have reached the oldest generation, each full collection stops the process long
enough to set its tail latency under load (docs/serving.md has the figures). Frozen objects are left out of every
collection; what requests allocate is collected as before.
"""

from __future__ import annotations

import gc
import time


def freeze_long_lived() -> float:
    """Collects, then freezes every object alive now; returns the pause in milliseconds.

    Call once a process holds what it keeps (after start-up; in a worker, after each model swap). Unfreezing first
    lets the collection reclaim what was frozen before and is garbage now, such as a replaced model's cycles.
    """
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return (time.perf_counter() - started) * 1000
