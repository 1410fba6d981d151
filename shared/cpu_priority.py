"""Background work yields the CPU to the request path: a process's nice value, and its autogroup's.

Linux with autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled`, on in most desktop and VM kernels)
shares the CPU between sessions first and between a session's processes second, so a service started in a session
of its own (as `./scripts/run.sh` starts each one) competes as a whole session: its own nice value changes nothing
against the gateway's session. Its autogroup's nice value does. In a container (a cgroup of its own) autogroups do
not apply and the process's nice value ranks it against the container's other processes.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


@dataclass(frozen=True)
class Priority:
    """What this process runs at: its nice value, and its autogroup's when it leads one (None otherwise)."""

    nice: int
    autogroup_nice: int | None

    def describe(self) -> str:
        group = "" if self.autogroup_nice is None else f",autogroup:{self.autogroup_nice}"
        return f"{self.nice}{group}"


def lower_cpu_priority(niceness: int) -> Priority:
    """Raises this process's nice value to `niceness` (0-19; never lowers it) and, when the process leads its
    session, its autogroup's too. Call it before starting threads: on Linux a nice value is a thread's, and new
    threads inherit it. A refusal (a read-only /proc, say) leaves the priority as it was, and is not an error."""
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if niceness > current:
            os.nice(niceness - current)
    autogroup_nice = None
    # Only a session leader's autogroup is its own: another's would lower the shell or supervisor that started it.
    if os.getsid(0) == os.getpid() and AUTOGROUP.exists():
        with contextlib.suppress(OSError, ValueError):  # ValueError: a file in a format this does not know
            if niceness > _autogroup_nice():
                AUTOGROUP.write_text(str(niceness), encoding="ascii")
            autogroup_nice = _autogroup_nice()
    return Priority(os.getpriority(os.PRIO_PROCESS, 0), autogroup_nice)


def _autogroup_nice() -> int:
    # The file reads "/autogroup-42 nice 10".
    return int(AUTOGROUP.read_text(encoding="ascii").split()[-1])
