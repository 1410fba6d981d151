#!/usr/bin/env bash
# The test command: lint, import contracts, then the whole suite (slow and integration tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
./scripts/install-system.sh
export HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2
./scripts/lint.sh
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
