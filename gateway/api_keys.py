"""Named API keys: who is calling (a name and a role) from the `X-API-Key` header, matched in constant time.

Keys come from ANALYST_API_KEY / ADMIN_API_KEY (named "analyst" and "admin") and from named entries, given as a
JSON list in API_KEYS or in the file API_KEYS_FILE: `[{"name": "alice", "role": "analyst", "key": "..."}]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, TypeAdapter, ValidationError

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings

API_KEY_HEADER = "X-API-Key"
Role = Literal["analyst", "admin"]
# Names end up in events, reports, logs and Redis keys: short, and without spaces or markup.
KeyName = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]


class ApiKeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName = Field(..., description="Who holds the key: shown in feedback, alerts and reports, never the key.")
    role: Role
    key: SecretStr


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the name its key carries and the role it grants."""

    name: str
    role: Role


def _digest(key: str) -> bytes:
    # Digests have one length whatever the key's, so comparing them reveals nothing about a key's length either.
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    """Every configured key; refuses a configuration in which one key would stand for two names or two roles."""

    def __init__(self, entries: Iterable[ApiKeyEntry]) -> None:
        by_name: dict[str, ApiKeyEntry] = {}
        by_digest: dict[bytes, ApiKeyEntry] = {}
        for entry in entries:
            secret = entry.key.get_secret_value()
            if not secret:
                continue  # an empty key can never match: a request without a key is refused before any lookup
            if entry.name in by_name:
                raise ValueError(f"two API keys are named {entry.name!r}: give each key its own name")
            digest = _digest(secret)
            other = by_digest.get(digest)
            if other is not None:
                raise ValueError(_shared_key_message(other, entry))
            by_name[entry.name] = entry
            by_digest[digest] = entry
        self._keys = [(digest, Caller(entry.name, entry.role)) for digest, entry in by_digest.items()]

    def __len__(self) -> int:
        return len(self._keys)

    def caller(self, api_key: str) -> Caller | None:
        """The caller a key belongs to; every configured key is compared, found or not, so timing tells nothing."""
        candidate = _digest(api_key)
        found = None
        for digest, caller in self._keys:
            if hmac.compare_digest(candidate, digest):
                found = caller
        return found


def caller_of_key(api_key: str | None, settings: GatewaySettings) -> Caller | None:
    """Who a key belongs to, compared in constant time against every configured key."""
    if not api_key:
        return None
    return settings.key_ring.caller(api_key)


def role_of_key(api_key: str | None, settings: GatewaySettings) -> Role | None:
    """The role a key grants, compared in constant time against every configured key."""
    caller = caller_of_key(api_key, settings)
    return caller.role if caller else None


def _shared_key_message(first: ApiKeyEntry, second: ApiKeyEntry) -> str:
    if first.role != second.role:
        admin, analyst = (first, second) if first.role == "admin" else (second, first)
        return (
            f"the admin key of {admin.name!r} equals the analyst key of {analyst.name!r}: anyone holding the analyst "
            "key would be an admin; give the admin its own key"
        )
    return f"the keys of {first.name!r} and {second.name!r} are equal: give each name its own key"


_ENTRIES = TypeAdapter(list[ApiKeyEntry])


def load_keys_file(path: Path) -> list[ApiKeyEntry]:
    """The entries of a keys file (a JSON list of {"name", "role", "key"}); a clear ValueError if it is unusable."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"API_KEYS_FILE {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        return _ENTRIES.validate_python(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ValueError(f"API_KEYS_FILE {str(path)!r} is not JSON (line {exc.lineno}): {exc.msg}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'file'}: {error['msg']}" for error in exc.errors()
        )
        raise ValueError(
            f"API_KEYS_FILE {str(path)!r} must be a JSON list of "
            f'{{"name", "role": "analyst"|"admin", "key"}}: {problems}'
        ) from None
