"""How many gateway and inference worker processes a machine runs by default, from its core count."""

from __future__ import annotations

import math
import os
from pathlib import Path


def available_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores this process may use, at least 1: its CPU affinity (which `taskset` and cpusets narrow), and no more
    than a container's CPU quota (cgroup v2 `cpu.max`), which affinity does not show."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cpu_max)
    return max(1, min(cores, quota) if quota else cores)


def cgroup_cpu_quota(cpu_max: Path) -> int | None:
    """Whole cores a cgroup v2 `cpu.max` ("<quota> <period>", or "max <period>") allows, rounded up; None if none."""
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max" or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def default_gateway_processes(cores: int | None = None) -> int:
    """One gateway process up to two cores, then one per two cores: each process is one event loop (one core at
    most), and the inference workers need the other half of the machine for the model and preprocessing."""
    cores = cores or available_cores()
    return 1 if cores <= 2 else cores // 2


def default_inference_workers(cores: int | None = None, gateway_processes: int | None = None) -> int:
    """The cores the gateway leaves, at least one. A second worker on a core the gateway needs only splits the
    batches and competes for that core (docs/serving.md has the measured 1- and 2-worker cells)."""
    cores = cores or available_cores()
    gateway_processes = gateway_processes or default_gateway_processes(cores)
    return max(1, cores - gateway_processes)
