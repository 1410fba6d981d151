#!/usr/bin/env bash
# Creates .venv and installs the locked dependencies (CPU torch first), then the project itself, editable.
# Idempotent and fast when nothing changed. Needs Python 3.11 and the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BIN="${PYTHON_BIN:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3
if ! command -v uv >/dev/null 2>&1; then
  "$PYTHON_BIN" -m pip install --quiet "uv==0.13.9"
fi
UV="$(command -v uv || echo "$PYTHON_BIN -m uv")"

[ -x .venv/bin/python ] || $UV venv --quiet -p "$PYTHON_BIN" .venv

# The CPU build of torch lies on local disk (/opt/wheels) or behind LOCAL_WHEELS_URL (image builds);
# resolving `torch` from the index instead would pull several GB of CUDA.
FIND_LINKS=()
for source in "${LOCAL_WHEELS_URL:-}" /opt/wheels; do
  [ -n "$source" ] && { [ -d "$source" ] || [[ "$source" == http* ]]; } && FIND_LINKS+=(--find-links "$source")
done
$UV pip install --quiet -p .venv/bin/python "${FIND_LINKS[@]}" -r requirements/torch-cpu.txt
$UV pip install --quiet -p .venv/bin/python "${FIND_LINKS[@]}" -r requirements/all.lock
$UV pip install --quiet -p .venv/bin/python --no-deps -e .
echo "installed into .venv ($(.venv/bin/python --version))"
