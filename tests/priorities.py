"""What a process's threads and its session run at, read from Linux's /proc."""

from __future__ import annotations

from pathlib import Path

import psutil


def thread_nice_values(pid: int) -> set[int]:
    """The nice value of each thread of the process (field 19 of /proc/<pid>/task/<tid>/stat)."""
    return {
        int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]) for task in Path(f"/proc/{pid}/task").iterdir()
    }


def tree_nice_values(pid: int) -> set[int]:
    """The nice values of every thread of the process and of its children (a Celery pool's included)."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return set().union(*(thread_nice_values(process.pid) for process in processes))


def autogroup_nice(pid: int) -> int | None:
    """The nice value of the process's autogroup (None where the kernel has no autogroups)."""
    path = Path(f"/proc/{pid}/autogroup")
    return int(path.read_text().split()[-1]) if path.exists() else None
