#!/usr/bin/env bash
# Filesystem benchmark, one run, side by side: sequential read of a 256 MiB file and stat
# latency over 1000 files, cold caches, medians of RUNS.
#   ext4 image:  kernel ext4 (loop mount) | fuse2fs | /scheme via the ext2fs engine
#                | /scheme via the mount engine (serving the kernel's mount)
#   btrfs image: kernel btrfs (loop mount) | /scheme via the btrfs engine
#   shared region vs inline: the ext2fs engine in local mode with the default 64 MiB memfd region
#                against a second pair of daemons started with --region-size 0 (file data
#                inline in the frames), same image, same run
# Everything is read-only; every /scheme path goes through both daemons over a unix socket and
# the FUSE mount. Prints tables with ratios to the first row (the kernel; inline for the region
# table), and JSON (BENCH_JSON_DIR).
# Usage (root): bash bench/fs_bench.sh [RUNS, default 5] [all|region, default all]
# Needs a build (tools/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
only="${2:-all}"
case "$only" in all | region) ;; *) echo "fs_bench.sh: second argument is all or region" >&2; exit 2 ;; esac
json_dir="${BENCH_JSON_DIR:-}"
work=$(mktemp -d /tmp/bridge-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for m in scheme scheme-inline fuse2fs kernel-ext4 kernel-btrfs; do umount -l "$work/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "making 400 MiB ext4 and btrfs images, each with a 256 MiB file and 1000 small files..."
mkdir -p "$work/tree/data" "$work/tree/many"
head -c $((256 << 20)) /dev/urandom >"$work/tree/data/big.bin"
for i in $(seq 1 1000); do echo "$i" >"$work/tree/many/f$i"; done
mke2fs -q -t ext4 -d "$work/tree" -F "$work/ext4.img" 400M
truncate -s 400M "$work/btrfs.img"
mkfs.btrfs -q -r "$work/tree" "$work/btrfs.img"
rm -rf "$work/tree"

mkdir -p "$work/kernel-ext4" "$work/kernel-btrfs" "$work/fuse2fs" "$work/scheme" "$work/scheme-inline"
mount -o loop,ro "$work/ext4.img" "$work/kernel-ext4"
mount -o loop,ro "$work/btrfs.img" "$work/kernel-btrfs"
fuse2fs -o ro "$work/ext4.img" "$work/fuse2fs" >/dev/null 2>&1
build/bridge-host/bridge-host --listen "unix:$work/g.sock" --control "$work/c.sock" \
  --mount "$work/scheme" --log-level warn 2>"$work/host.log" &
pids+=($!)
build/bridge-guest/bridge-guest --connect "unix:$work/g.sock" --log-level warn \
  --export "ext4=ext2fs:$work/ext4.img,ro" \
  --export "ext4-mount=mount:$work/kernel-ext4,ro" \
  --export "btrfs=btrfs:$work/kernel-btrfs,ro" 2>"$work/guest.log" &
pids+=($!)
# The same ext4 image once more, through daemons that move file data inline.
build/bridge-host/bridge-host --listen "unix:$work/gi.sock" --control "$work/ci.sock" \
  --mount "$work/scheme-inline" --region-size 0 --log-level warn 2>"$work/host-inline.log" &
pids+=($!)
build/bridge-guest/bridge-guest --connect "unix:$work/gi.sock" --log-level warn \
  --export "ext4=ext2fs:$work/ext4.img,ro" 2>"$work/guest-inline.log" &
pids+=($!)
for f in scheme/btrfs/data/big.bin scheme-inline/ext4/data/big.bin; do
  for _ in $(seq 100); do [ -e "$work/$f" ] && break; sleep 0.1; done
  [ -e "$work/$f" ] || { cat "$work"/*.log >&2; exit 1; }
done

bench() { build/bench/fs_bench --file data/big.bin --stat-dir many --runs "$runs" "$@"; }
echo
echo "== shared region vs inline (local mode, ext2fs engine; ratio = region / inline)"
bench ${json_dir:+--json "$json_dir/region.json"} \
  "inline (--region-size 0)=$work/scheme-inline/ext4" "shared region (64 MiB memfd)=$work/scheme/ext4"
[ "$only" = region ] && exit 0
echo
echo "== ext4 image"
bench ${json_dir:+--json "$json_dir/ext4.json"} \
  "kernel-ext4=$work/kernel-ext4" "fuse2fs=$work/fuse2fs" \
  "bridge ext2fs engine=$work/scheme/ext4" "bridge mount engine=$work/scheme/ext4-mount"
echo
echo "== btrfs image"
bench ${json_dir:+--json "$json_dir/btrfs.json"} \
  "kernel-btrfs=$work/kernel-btrfs" "bridge btrfs engine=$work/scheme/btrfs"
