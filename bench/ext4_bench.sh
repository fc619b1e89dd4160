#!/usr/bin/env bash
# Sequential read (256 MiB) and stat latency through /scheme/ext4, side by side with the
# kernel's own ext4 mount of the same image and with fuse2fs on it, in one run. All three are
# read-only views of one image. Prints a table with ratios to the kernel, and JSON.
# Usage (root): bash bench/ext4_bench.sh [RUNS]    Needs a build (tools/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
work=$(mktemp -d /tmp/bridge-bench-XXXXXX)
img="$work/bench.img"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for m in "$work/kernel" "$work/fuse2fs" "$work/scheme"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "making a 400 MiB ext4 image with a 256 MiB file and 1000 small files..."
mkdir -p "$work/tree/data" "$work/tree/many"
head -c $((256 << 20)) /dev/urandom >"$work/tree/data/big.bin"
for i in $(seq 1 1000); do echo "$i" >"$work/tree/many/f$i"; done
mke2fs -q -t ext4 -d "$work/tree" -F "$img" 400M
rm -rf "$work/tree"

mkdir -p "$work/kernel" "$work/fuse2fs" "$work/scheme"
mount -o loop,ro "$img" "$work/kernel"
fuse2fs -o ro "$img" "$work/fuse2fs" >/dev/null 2>&1
build/bridge-host/bridge-host --listen "unix:$work/g.sock" --control "$work/c.sock" \
  --mount "$work/scheme" --log-level warn 2>"$work/host.log" &
pids+=($!)
build/bridge-guest/bridge-guest --connect "unix:$work/g.sock" --export "ext4=ext2fs:$img,ro" \
  --log-level warn 2>"$work/guest.log" &
pids+=($!)
for _ in $(seq 100); do [ -e "$work/scheme/ext4/data/big.bin" ] && break; sleep 0.1; done

build/bench/fs_bench --file data/big.bin --stat-dir many --runs "$runs" \
  --json "${BENCH_JSON:-/dev/stdout}" \
  "kernel-ext4=$work/kernel" "fuse2fs=$work/fuse2fs" "redox-bridge-ext2fs=$work/scheme/ext4"
