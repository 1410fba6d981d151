#!/usr/bin/env bash
# The test command: lint and import contracts, the whole test suite (unit, integration against real services, UI in
# AppTest and a real browser), the images and Compose stack in Docker, then the reliability suite and a 60 s soak.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
./scripts/install-system.sh
export HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2
./scripts/lint.sh

set +e
.venv/bin/python -m pytest --ignore=tests/reliability "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

# Images, Compose files and workflows: builds every image and smoke-tests the stack through its gateway port. It
# takes a Docker engine already reachable (DOCKER_HOST or the `docker` CLI's default) or the one that
# ${SHARED_SERVICES:-../shared/services}/docker-offline.sh starts; with neither, it says what it skipped.
if docker info >/dev/null 2>&1 || [ -f "${SHARED_SERVICES:-../shared/services}/docker-offline.sh" ]; then
  ./scripts/deploy_check.sh
else
  echo "SKIPPED: the deploy check (image builds, Compose smoke stack): no Docker engine (DOCKER_HOST unset or" \
    "unreachable, \`docker info\` fails, no ${SHARED_SERVICES:-../shared/services}/docker-offline.sh)" >&2
fi

# Fault injection, abuse and soak: prints the fault table (also in test-output/reliability.md).
./scripts/reliability.sh
