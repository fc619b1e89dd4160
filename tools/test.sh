#!/usr/bin/env bash
# Builds everything and runs every test: unit and integration tests through ctest (real images,
# real FUSE mounts, real daemons), then a short libFuzzer smoke of each fuzz target.
# Run as root (FUSE mounts, loop devices).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j1
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" bash tools/fuzz-smoke.sh
