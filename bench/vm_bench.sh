#!/usr/bin/env bash
# The VM path, one run, side by side: boot-to-first-byte (QEMU start until `cat` through
# /scheme succeeds on the host) and sequential read of a 256 MiB file through /scheme from the
# filesystem VM (QEMU TCG, bridge-host as its vhost-user-vsock device), beside the same image in
# local mode and the kernel's own mount. Cold caches, medians of RUNS reads. Prints a table with
# ratios to the kernel. Usage (root): bash bench/vm_bench.sh [RUNS, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
work=$(mktemp -d /tmp/bridge-vmbench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for m in vm local kernel; do umount -l "$work/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }

bash image/build-guest.sh build/guest-image --build-dir build >/dev/null
echo "making a 400 MiB ext4 image with a 256 MiB file..."
mkdir -p "$work/tree/data" "$work/vm" "$work/local" "$work/kernel"
head -c $((256 << 20)) /dev/urandom >"$work/tree/data/big.bin"
echo hello >"$work/tree/data/hello"
mke2fs -q -t ext4 -d "$work/tree" -F "$work/ext4.img" 400M
rm -rf "$work/tree"
mount -o loop,ro "$work/ext4.img" "$work/kernel"

build/bridge-host/bridge-host --listen "unix:$work/l.sock" --control "$work/lc.sock" \
  --mount "$work/local" --log-level warn 2>"$work/local-host.log" &
pids+=($!)
build/bridge-guest/bridge-guest --connect "unix:$work/l.sock" --export "ext4=ext2fs:$work/ext4.img,ro" \
  --log-level warn 2>"$work/local-guest.log" &
pids+=($!)

build/bridge-host/bridge-host --listen "vhost-user:$work/vu.sock,cid=3" --control "$work/vc.sock" \
  --mount "$work/vm" --log-level warn 2>"$work/vm-host.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/vu.sock" ] && break; sleep 0.1; done
t0=$(now)
qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -nodefaults -no-reboot \
  -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
  -chardev "socket,id=vu,path=$work/vu.sock" -device vhost-user-vsock-pci,chardev=vu \
  -serial "file:$work/console.log" -monitor none \
  -kernel build/guest-image/bzImage -initrd build/guest-image/initramfs.cpio.gz \
  -append "console=ttyS0 panic=-1 quiet bridge.export=ext4=ext2fs:/dev/vda,ro" \
  -drive "file=$work/ext4.img,if=virtio,format=raw,readonly=on" </dev/null >"$work/qemu.log" 2>&1 &
pids+=($!)
until timeout 5 cat "$work/vm/ext4/data/hello" >/dev/null 2>&1; do
  sleep 0.1
  if awk -v a="$(now)" -v b="$t0" 'BEGIN { exit !(a - b > 120) }'; then
    echo "VM did not serve in 120 s" >&2
    exit 1
  fi
done
boot=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')
printf 'boot to first byte through /scheme (QEMU TCG): %.1f s\n\n' "$boot"

build/bench/fs_bench --file data/big.bin --stat-dir data --runs "$runs" \
  "kernel-ext4=$work/kernel" "local mode (ext2fs)=$work/local/ext4" "filesystem VM (ext2fs)=$work/vm/ext4"
