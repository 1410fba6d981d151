"""The signed manifest of a registered version: what a worker checks before it reads a single byte of the model.

The registry is writable by whoever reaches MLflow, so a version's files and tags prove nothing by themselves.
Training writes `manifest.json` into the model directory before upload: the sha256 of every file, the figures
promotion and serving trust (threshold, test precision, ...), and an HMAC-SHA256 of all that under the
`MODEL_SIGNING_KEY` that training and inference workers share. A version without a valid signature, or whose
files differ from their digests, is refused before anything is unpickled or parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
FORMAT = "air-paradis-model/1"
# Written by MLflow itself into a downloaded `models:/` folder; never read by a loader.
_MLFLOW_WRITTEN = frozenset({"registered_model_meta"})
_MAX_MANIFEST_BYTES = 1_000_000


class ModelNotTrusted(ValueError):
    """A version whose manifest is missing, malformed, unsigned, wrongly signed, or whose files do not match."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _sign(body: Mapping[str, Any], key: str) -> str:
    if not key:
        raise ModelNotTrusted("MODEL_SIGNING_KEY is empty: set the key training and inference workers share")
    return hmac.new(key.encode("utf-8"), _canonical(body), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Manifest:
    family: str
    files: dict[str, str]
    metadata: dict[str, Any] = field(default_factory=dict)
    signature: str = ""

    def body(self) -> dict[str, Any]:
        return {"format": FORMAT, "family": self.family, "files": self.files, "metadata": self.metadata}

    def to_json(self) -> str:
        return json.dumps({**self.body(), "signature": self.signature}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ModelNotTrusted(f"{MANIFEST_FILE} is not JSON: {exc.__class__.__name__}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelNotTrusted(f"{MANIFEST_FILE} is not an {FORMAT} manifest")
        files, metadata = data.get("files"), data.get("metadata", {})
        valid_files = isinstance(files, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        )
        if not valid_files or not isinstance(metadata, dict):
            raise ModelNotTrusted(f"{MANIFEST_FILE} has no valid `files` or `metadata`")
        return cls(str(data.get("family", "")), files, metadata, str(data.get("signature", "")))

    def verify_signature(self, key: str) -> None:
        if not hmac.compare_digest(_sign(self.body(), key), self.signature):
            raise ModelNotTrusted("manifest signature does not match: not signed with this MODEL_SIGNING_KEY")

    def verify_files(self, folder: Path, names: Iterable[str] | None = None) -> None:
        """Digests of `names` (every file of the folder when None; then no unlisted file may be there either)."""
        if names is None:
            present = {
                str(p.relative_to(folder))
                for p in folder.rglob("*")
                if p.is_file() and p.name != MANIFEST_FILE and p.name not in _MLFLOW_WRITTEN
            }
            unlisted = sorted(present - set(self.files))
            if unlisted:
                raise ModelNotTrusted(f"files not in the signed manifest: {', '.join(unlisted[:5])}")
            names = sorted(self.files)
        for name in names:
            if name not in self.files:
                raise ModelNotTrusted(f"{name} is not in the signed manifest")
            path = folder / name
            if not path.is_file() or sha256_of(path) != self.files[name]:
                raise ModelNotTrusted(f"{name} does not match its signed digest")


def sign_folder(folder: Path, family: str, metadata: Mapping[str, Any], key: str) -> Manifest:
    """Write `manifest.json` into a saved model folder, covering every file in it; returns the manifest."""
    files = {
        str(p.relative_to(folder)): sha256_of(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    unsigned = Manifest(family, files, dict(metadata))
    manifest = Manifest(family, files, dict(metadata), _sign(unsigned.body(), key))
    (folder / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def read_verified(folder: Path, key: str, names: Iterable[str] | None = None) -> Manifest:
    """The folder's manifest once its signature and the digests of `names` (or of every file) hold."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ModelNotTrusted(f"no {MANIFEST_FILE}: the version was not registered by a training worker")
    if path.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ModelNotTrusted(f"{MANIFEST_FILE} is larger than {_MAX_MANIFEST_BYTES} bytes")
    manifest = Manifest.from_json(path.read_bytes())
    manifest.verify_signature(key)
    manifest.verify_files(folder, names)
    return manifest
