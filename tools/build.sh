#!/usr/bin/env bash
# Configures and builds redox-bridge into build/ (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DBRIDGE_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
