#!/usr/bin/env bash
# ruff, then the import-linter contracts that keep services apart and TensorFlow/torch out of the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/lint-imports
