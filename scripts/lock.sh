#!/usr/bin/env bash
# Regenerates requirements/all.lock and one lock per image; every per-image lock is constrained by all.lock,
# so an image never resolves a version that the tests did not run with.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="$(command -v uv || echo "python3 -m uv")"
FIND_LINKS=()
for source in "${LOCAL_WHEELS_URL:-}" /opt/wheels; do
  [ -n "$source" ] && { [ -d "$source" ] || [[ "$source" == http* ]]; } && FIND_LINKS+=(--find-links "$source")
done
# torch is overridden to the CPU build: the default wheel would drag several GB of CUDA into the training image.
COMMON=(--quiet -p 3.11 "${FIND_LINKS[@]}" --override requirements/torch-cpu.txt --no-emit-find-links)

$UV pip compile pyproject.toml --all-extras "${COMMON[@]}" -o requirements/all.lock
for extra in gateway inference training alerting log-writer ui; do
  $UV pip compile pyproject.toml --extra "$extra" "${COMMON[@]}" -c requirements/all.lock -o "requirements/$extra.lock"
done
$UV pip compile compose/mlflow/requirements.in "${COMMON[@]}" -c requirements/all.lock -o requirements/mlflow.lock
echo "locks written: $(ls requirements/*.lock | tr '\n' ' ')"
