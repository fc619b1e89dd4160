#!/usr/bin/env bash
# Configures and builds redox-bridge into build/ (warnings are errors). Uses ccache when it is
# installed (several worktrees then share one compile cache; CCACHE_BASEDIR makes hits
# independent of the checkout's path).
#   bash tools/build.sh [TARGET...]   all targets, or only the named ones
#   BRIDGE_BUILD_DIR=DIR              build somewhere else (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BRIDGE_BUILD_DIR:-build}"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
fi
cmake -S . -B "$build_dir" -G Ninja -DBRIDGE_WERROR=ON "${launcher[@]}" >/dev/null
targets=()
[ $# -eq 0 ] || targets=(--target "$@")
cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}"
