#!/usr/bin/env bash
# The reliability suite in one command: fault injection + abuse tests (tests/reliability and the alerting/SMTP
# fault scenarios), then a soak (60 s by default here; SOAK_SECONDS=600 for the full one). Writes and prints
# test-output/reliability.md: fault -> sent / answered / explicit failure / lost, abuse -> attempts / refused /
# effect, generated cases, soak figures.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2
export TEST_OUTPUT_DIR="${TEST_OUTPUT_DIR:-test-output}"
mkdir -p "$TEST_OUTPUT_DIR"
rm -f "$TEST_OUTPUT_DIR/reliability-faults.jsonl" "$TEST_OUTPUT_DIR/reliability-abuse.jsonl" "$TEST_OUTPUT_DIR/soak.json"

alerting_faults=()
if [ -f tests/integration/test_alerting_delivery.py ]; then
  alerting_faults=(tests/integration/test_alerting_delivery.py)
fi
.venv/bin/python -m pytest -p tests.reliability.fault_report tests/reliability "${alerting_faults[@]}" -q "$@"
tests_status=$?

# The soak measures an unthrottled stack (no rate limit) whose every answered tweet is a record: its Redis gets a
# budget that a 10-minute run fits in, not the 256 MB default (the abuse tests cover a full Redis).
REDIS_MAXMEMORY="${SOAK_REDIS_MAXMEMORY:-2gb}" \
  .venv/bin/python benchmarks/soak.py --duration "${SOAK_SECONDS:-60}" --out "$TEST_OUTPUT_DIR/soak.json"
soak_status=$?

.venv/bin/python -m tests.reliability.report "$TEST_OUTPUT_DIR" "$tests_status"
if [ "$tests_status" -ne 0 ] || [ "$soak_status" -ne 0 ]; then
  echo "reliability: tests exit $tests_status, soak exit $soak_status" >&2
  exit 1
fi
