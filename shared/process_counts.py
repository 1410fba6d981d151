"""How many gateway and inference worker processes a machine runs by default, from its core count."""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and `taskset` narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_gateway_processes(cores: int | None = None) -> int:
    """One gateway process up to two cores, then one per two cores: each process is one event loop (one core at
    most), and the inference workers need the other half of the machine for the model and preprocessing."""
    cores = cores or available_cores()
    return 1 if cores <= 2 else cores // 2


def default_inference_workers(cores: int | None = None, gateway_processes: int | None = None) -> int:
    """The cores the gateway leaves, and never fewer than two: a worker waits on Redis for part of each call, so a
    second one keeps the cores busy while the first waits."""
    cores = cores or available_cores()
    gateway_processes = gateway_processes or default_gateway_processes(cores)
    return max(2, cores - gateway_processes)
