#!/usr/bin/env bash
# Builds everything and runs every test: unit and integration tests through ctest (real images,
# real FUSE mounts, real daemons), then a short libFuzzer smoke of each fuzz target.
# Run as root (FUSE mounts, loop devices). Ends with one line "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
ctest --test-dir build --output-on-failure --timeout 600 -j1 2>&1 | tee "$log" || status=$?
total=$(sed -n 's/.* tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -n 1)
total=${total:-0}
failed=${failed:-0}
passed=$((total - failed))
# Each fuzz target counts as one test: clean for its whole run, or failed.
if FUZZ_SECONDS="${FUZZ_SECONDS:-30}" bash tools/fuzz-smoke.sh 2>&1 | tee "$log"; then
  fuzz=$(sed -n 's/^fuzz-smoke: \([0-9]*\) target(s) clean.*/\1/p' "$log" | tail -n 1)
  passed=$((passed + ${fuzz:-0}))
else
  status=1
  failed=$((failed + 1))
fi
echo "tests: $passed passed, $failed failed"
exit "$status"
