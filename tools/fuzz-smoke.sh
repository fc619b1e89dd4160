#!/usr/bin/env bash
# Fuzz smoke run: configures build-fuzz/ with clang and -DBRIDGE_FUZZ=ON, builds every libFuzzer
# target, and runs each for FUZZ_SECONDS on a scratch copy of its corpus. Exits non-zero when any
# target fails to build or crashes (crash, sanitizer report, leak, timeout, out-of-memory), and
# prints the input that did it. Targets come from the build (tests/fuzz/CMakeLists.txt, bridge_add_fuzzer): a new target
# needs no edit here.
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated subset to run (default: all)
#   FUZZ_MAX_LEN   libFuzzer -max_len (default 65536)
#   FUZZ_BUILD_DIR build directory (default <repo>/build-fuzz)
#   FUZZ_JOBS      build parallelism (default 2)
#   FUZZ_KEEP=1    keep scratch directories of passing targets too
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-65536}
jobs=${FUZZ_JOBS:-2}

die() {
  echo "fuzz-smoke: $*" >&2
  exit 2
}

configure() {
  command -v clang++ >/dev/null || die "clang++ not found: apt-get install clang libclang-rt-14-dev"
  mkdir -p "$build"
  cmake -S "$root" -B "$build" -G Ninja -DBRIDGE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; die "configure failed (log above)"; }
  list="$build/tests/fuzz/fuzz_targets.txt"
  [[ -f $list ]] || die "$list missing: is tests/fuzz added when BRIDGE_FUZZ=ON?"
  # Lines: target corpus-name seed-writer ('-' when none).
  mapfile -t entries < <(grep -v '^#' "$list")
  if [[ -n ${FUZZ_TARGETS:-} ]]; then
    local wanted=() e
    for e in "${entries[@]}"; do
      [[ " $FUZZ_TARGETS " == *" ${e%% *} "* ]] && wanted+=("$e")
    done
    entries=("${wanted[@]}")
  fi
  ((${#entries[@]})) || die "no fuzz targets selected"
}

# Builds one target and its seed writer. A target that does not build is a failure of its own;
# it does not stop the others from running.
build_target() {
  local name=$1 seeds=$2 targets=("$1")
  [[ $seeds != - ]] && targets+=("$seeds")
  local log="$build/build-$name.log"
  if ! cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$log" 2>&1; then
    echo "FAIL $name: build failed; log $log"
    grep -E 'error|FAILED' "$log" | head -n 20 | sed 's/^/    /'
    return 1
  fi
}

# Runs one target; prints a summary line; returns non-zero on a finding.
run_target() {
  local name=$1 corpus_name=$2 seeds=$3
  local bin="$build/tests/fuzz/$name"
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke-$name.XXXXXX")
  mkdir -p "$work/corpus" "$work/artifacts"
  if [[ -d $root/tests/fuzz/corpus/$corpus_name ]]; then
    cp -r "$root/tests/fuzz/corpus/$corpus_name/." "$work/corpus/"
  fi
  if [[ $seeds != - ]]; then
    "$build/tests/fuzz/$seeds" "$work/corpus" || die "$seeds failed"
  fi
  local seed_count rc=0
  seed_count=$(find "$work/corpus" -type f | wc -l)
  echo "== $name: ${seconds}s, $seed_count seed(s), scratch $work"
  "$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" \
    >"$work/fuzz.log" 2>&1 || rc=$?

  local crashes
  crashes=$(find "$work/artifacts" -type f | sort)
  local done_line
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" | tail -1 || true)
  local runs execs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
  execs=$(grep -oE 'exec/s: [0-9]+' <<<"$done_line" | grep -oE '[0-9]+' || true)
  if ((rc != 0)) || [[ -n $crashes ]]; then
    echo "FAIL $name: libFuzzer exit $rc; log $work/fuzz.log"
    tail -n 40 "$work/fuzz.log" | sed 's/^/    /'
    local c
    for c in $crashes; do echo "CRASH INPUT $name: $c"; done
    [[ -n $crashes ]] || echo "    (no artifact written; see the log)"
    return 1
  fi
  echo "ok   $name: ${runs:-?} runs, ${execs:-?} exec/s, $(grep -oE 'cov: [0-9]+' <<<"$done_line" || echo 'cov: ?')," \
    "corpus $(find "$work/corpus" -type f | wc -l) files"
  [[ ${FUZZ_KEEP:-0} == 1 ]] || rm -rf "$work"
}

main() {
  configure
  local failed=0 e name corpus seeds
  for e in "${entries[@]}"; do
    read -r name corpus seeds <<<"$e"
    if build_target "$name" "$seeds"; then
      run_target "$name" "$corpus" "$seeds" || failed=$((failed + 1))
    else
      failed=$((failed + 1))
    fi
  done
  if ((failed)); then
    echo "fuzz-smoke: $failed target(s) found a problem" >&2
    exit 1
  fi
  echo "fuzz-smoke: ${#entries[@]} target(s) clean for ${seconds}s each"
}

main "$@"
