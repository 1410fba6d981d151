"""Redis's memory budget (`maxmemory` with `noeviction`): recognising its refusals and reading how full it is.

Past its budget Redis refuses every command that could grow memory ("OOM command not allowed when used memory >
'maxmemory'"), inside a script too; reads, PUBLISH, XACK, XDEL and EXPIRE still run. Services answer such a refusal
with an explicit "storage full" failure, never a generic error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STORAGE_FULL = "storage full"
# Redis's wording, alone or wrapped in a script error ("Error running script ... -OOM command not allowed ...").
_OOM_FRAGMENT = "command not allowed when used memory"


def is_out_of_memory(exc: BaseException) -> bool:
    """True when Redis refused a write because it is past its `maxmemory` budget."""
    return _OOM_FRAGMENT in str(exc)


def refused(what: str) -> str:
    """The reason callers are given when Redis refused `what` for lack of memory."""
    return (
        f"{STORAGE_FULL}: Redis refused {what}: it has reached its memory budget (maxmemory); predictions resume "
        "as stored records expire or once the budget is raised"
    )


def is_storage_full_reason(reason: str | None) -> bool:
    return bool(reason) and reason.startswith(STORAGE_FULL)


@dataclass(frozen=True)
class MemoryState:
    used_bytes: int
    max_bytes: int  # 0: no budget
    policy: str

    @property
    def refusing_writes(self) -> bool:
        """At or past a budget that refuses rather than evicts (what the `noeviction` policy does)."""
        return self.max_bytes > 0 and self.policy == "noeviction" and self.used_bytes >= self.max_bytes

    def reason(self) -> str:
        used_mb, max_mb = self.used_bytes / 2**20, self.max_bytes / 2**20
        return (
            f"{STORAGE_FULL}: Redis holds {used_mb:.1f} MB of its {max_mb:.1f} MB budget (maxmemory) and refuses new "
            "prediction records; predictions resume as stored records expire or once the budget is raised"
        )


def memory_state(info: Mapping[str, Any]) -> MemoryState:
    """From the answer to `INFO memory`."""
    policy = info.get("maxmemory_policy", "")
    return MemoryState(
        used_bytes=int(info.get("used_memory", 0)),
        max_bytes=int(info.get("maxmemory", 0)),
        policy=policy.decode() if isinstance(policy, bytes) else str(policy),
    )
