#!/usr/bin/env bash
# The VM path against libguestfs, one run, side by side. Both run their Linux guest under the
# same QEMU TCG emulation with the same Debian kernel (the one image/build-guest.sh uses):
#   boot to first byte: redox-bridge = QEMU start until `cat /scheme/ext4/data/hello` succeeds
#     on the host (bridge-host as the VM's vhost-user-vsock device); libguestfs = start of
#     `guestfish --ro -a IMG -m /dev/sda cat /data/hello` until its first byte of output
#   sequential read of a 256 MiB file (fs_bench: host caches dropped before every read; caches
#     inside the guests are not, alike for both VMs): the kernel's own mount (baseline), local
#     mode, the filesystem VM through /scheme, and a `guestmount --ro` FUSE mount (its start-up
#     time is reported on its own line, not in the read figure)
# Medians of RUNS. Prints tables with ratios; never decides pass/fail.
#   Usage (root): bash bench/vm_bench.sh [RUNS, default 3]
# libguestfs (libguestfs-tools, tools/setup.sh) needs a kernel for its appliance and this
# machine's /boot has none: the script unpacks the full package of the guest image's kernel
# (build-guest.sh keeps only a few modules) into build/guest-image/cache/ once and points
# supermin at it (SUPERMIN_KERNEL, SUPERMIN_MODULES, SUPERMIN_KERNEL_VERSION), with
# LIBGUESTFS_BACKEND=direct and LIBGUESTFS_BACKEND_SETTINGS=force_tcg. The appliance is built
# once (cached, untimed). If libguestfs cannot run, the script prints why and reports its rows
# as not run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "vm_bench.sh: RUNS must be a positive integer, not '$runs'" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "vm_bench.sh: run as root (mounts, drop_caches, QEMU)" >&2; exit 1; }
for b in build/bridge-host/bridge-host build/bridge-guest/bridge-guest build/bench/fs_bench; do
  [ -x "$b" ] || { echo "vm_bench.sh: no $b: build first (bash tools/build.sh)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/bridge-vmbench-XXXXXX)
pids=()
qemu_pid=""
made_lib_modules=0
cleanup() {
  if [ -n "$qemu_pid" ]; then kill -KILL "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  if mountpoint -q "$work/gm" 2>/dev/null; then
    guestunmount "$work/gm" >/dev/null 2>&1 || fusermount3 -u "$work/gm" 2>/dev/null || umount -l "$work/gm" || true
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for m in vm local kernel; do umount -l "$work/$m" 2>/dev/null || true; done
  # supermin needs /lib/modules to exist on the host; remove it again if this script made it.
  if [ "$made_lib_modules" = 1 ]; then rmdir /lib/modules 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

bash image/build-guest.sh build/guest-image --build-dir build >/dev/null
echo "making a 400 MiB ext4 image with a 256 MiB file..."
mkdir -p "$work/tree/data" "$work/vm" "$work/local" "$work/kernel" "$work/gm"
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

# File data through the shared region, as tools/run-vm.sh deploys it (ivshmem on bridge-host's file).
build/bridge-host/bridge-host --listen "vhost-user:$work/vu.sock,cid=3,region=$work/vm.region,region-size=64" \
  --control "$work/vc.sock" \
  --mount "$work/vm" --log-level warn 2>"$work/vm-host.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/vu.sock" ] && break; sleep 0.1; done
[ -S "$work/vu.sock" ] || { echo "vm_bench.sh: bridge-host made no $work/vu.sock: $(cat "$work/vm-host.log")" >&2; exit 1; }

# --- libguestfs: kernel for supermin, appliance built once --------------------------------------
lg_ok=0
lg_why=""
lg_setup() {
  # Installed here, not by tools/setup.sh: only this bench needs it, and it is large.
  if ! command -v guestfish >/dev/null || ! command -v guestmount >/dev/null; then
    echo "installing libguestfs-tools for the side-by-side runs..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libguestfs-tools >/dev/null 2>&1 || true
  fi
  if ! command -v guestfish >/dev/null || ! command -v guestmount >/dev/null; then
    lg_why="guestfish/guestmount not installed and apt-get install libguestfs-tools failed"
    return 1
  fi
  local kpkg kver kdir
  read -r _ kpkg kver < <(grep '^kernel ' build/guest-image/manifest) ||
    { lg_why="no kernel line in build/guest-image/manifest"; return 1; }
  kdir="build/guest-image/cache/libguestfs-${kpkg}_$(echo "$kver" | tr ':/' '__')"
  if [ ! -f "$kdir/done" ]; then
    echo "libguestfs: unpacking $kpkg $kver for the appliance (once)..."
    rm -rf "$kdir" && mkdir -p "$kdir/deb"
    (cd "$kdir/deb" && apt-get download -qq "$kpkg=$kver" >/dev/null 2>"$work/apt.err") ||
      { lg_why="apt-get download $kpkg=$kver failed: $(tail -n1 "$work/apt.err")"; return 1; }
    dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root" && rm -rf "$kdir/deb"
    depmod -b "$kdir/root" "${kpkg#linux-image-}"
    touch "$kdir/done"
  fi
  export SUPERMIN_KERNEL="$PWD/$kdir/root/boot/vmlinuz-${kpkg#linux-image-}"
  export SUPERMIN_MODULES="$PWD/$kdir/root/lib/modules/${kpkg#linux-image-}"
  export SUPERMIN_KERNEL_VERSION="${kpkg#linux-image-}"
  export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
  export LIBGUESTFS_CACHEDIR="$PWD/build/guest-image/cache/libguestfs-appliance"
  mkdir -p "$LIBGUESTFS_CACHEDIR"
  # supermin lstat()s the host's /lib/modules while it copies the modules in.
  if [ ! -e /lib/modules ]; then mkdir /lib/modules; made_lib_modules=1; fi
  local t
  t=$(now)
  if ! out=$(guestfish --ro -a "$work/ext4.img" -m /dev/sda cat /data/hello 2>&1) || [ "$out" != hello ]; then
    lg_why="guestfish failed: $(tail -n 5 <<<"$out")"
    return 1
  fi
  printf 'libguestfs: appliance ready (first guestfish run, incl. any appliance build: %.1f s, untimed)\n' \
    "$(awk -v a="$t" -v b="$(now)" 'BEGIN {print b - a}')"
}
if lg_setup; then lg_ok=1; else echo "libguestfs: NOT RUN: $lg_why" >&2; fi

# --- boot to first byte, RUNS times each --------------------------------------------------------
boot_vm() {  # starts QEMU; prints seconds until /scheme/ext4/data/hello reads
  local t0
  t0=$(now)
  qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -nodefaults -no-reboot \
    -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
    -chardev "socket,id=vu,path=$work/vu.sock" -device vhost-user-vsock-pci,chardev=vu \
    -object "memory-backend-file,id=region,mem-path=$work/vm.region,size=64M,share=on" \
    -device ivshmem-plain,memdev=region \
    -serial "file:$work/console.log" -monitor none \
    -kernel build/guest-image/bzImage -initrd build/guest-image/initramfs.cpio.gz \
    -append "console=ttyS0 panic=-1 quiet bridge.export=ext4=ext2fs:/dev/vda,ro" \
    -drive "file=$work/ext4.img,if=virtio,format=raw,readonly=on" </dev/null >>"$work/qemu.log" 2>&1 &
  qemu_pid=$!
  until timeout 5 cat "$work/vm/ext4/data/hello" >/dev/null 2>&1; do
    sleep 0.1
    if awk -v a="$(now)" -v b="$t0" 'BEGIN { exit !(a - b > 120) }'; then
      echo "vm_bench.sh: the VM did not serve in 120 s; console: $(tail -n 5 "$work/console.log")" >&2
      exit 1
    fi
  done
  awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }' >"$work/boot.t"
}
stop_vm() { kill -KILL "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=""; }
boot_guestfish() {  # prints seconds from guestfish start until the first byte of `cat` arrives
  local t0
  t0=$(now)
  guestfish --ro -a "$work/ext4.img" -m /dev/sda cat /data/hello 2>"$work/gf.err" |
    { IFS= read -r line && [ "$line" = hello ] && awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }'; cat >/dev/null; }
}
vm_boots=()
gf_boots=()
for r in $(seq "$runs"); do
  [ "$r" -gt 1 ] && stop_vm
  boot_vm
  vm_boots+=("$(cat "$work/boot.t")")
  if [ "$lg_ok" = 1 ]; then
    t=$(boot_guestfish) || true
    [ -n "$t" ] || { echo "vm_bench.sh: guestfish run $r failed: $(tail -n 3 "$work/gf.err")" >&2; exit 1; }
    gf_boots+=("$t")
  fi
  printf 'boot run %d of %d: redox-bridge %.1f s%s\n' "$r" "$runs" "${vm_boots[-1]}" \
    "${gf_boots:+, guestfish $(printf '%.1f' "${gf_boots[-1]:-0}") s}" >&2
done
vm_boot=$(median "${vm_boots[@]}")
gm_start="not run"
targets=("kernel-ext4=$work/kernel" "local mode (ext2fs)=$work/local/ext4" "filesystem VM (ext2fs)=$work/vm/ext4")
if [ "$lg_ok" = 1 ]; then
  gf_boot=$(median "${gf_boots[@]}")
  t=$(now)
  guestmount --ro -a "$work/ext4.img" -m /dev/sda "$work/gm" 2>"$work/gm.err" ||
    { echo "vm_bench.sh: guestmount failed: $(tail -n 5 "$work/gm.err")" >&2; exit 1; }
  gm_start=$(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }')
  targets+=("guestmount (libguestfs)=$work/gm")
fi

echo
build/bench/fs_bench --file data/big.bin --stat-dir data --runs "$runs" --json "$work/read.json" "${targets[@]}"
echo
# Side by side, from fs_bench's JSON: redox-bridge's VM against libguestfs and the rest.
python3 - "$work/read.json" "$vm_boot" "${gf_boot:-}" "$gm_start" "$runs" "$lg_why" <<'EOF'
import json, sys
res = {r["label"]: r for r in json.load(open(sys.argv[1]))["results"]}
vm_boot, gf_boot, gm_start, runs, why = float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
vm = res["filesystem VM (ext2fs)"]["read_mib_s"]
print(f"side by side, median of {runs} run(s) (QEMU TCG, 1 vCPU, same Debian kernel):")
print(f"{'measure':44} {'redox-bridge':>13} {'libguestfs':>11} {'bridge/libguestfs':>18}")
if gf_boot:
    g = float(gf_boot)
    print(f"{'boot to first byte (s, lower is better)':44} {vm_boot:13.1f} {g:11.1f} {vm_boot / g:18.2f}")
else:
    print(f"{'boot to first byte (s, lower is better)':44} {vm_boot:13.1f} {'not run':>11}")
gm = res.get("guestmount (libguestfs)")
if gm:
    print(f"{'seq. read 256 MiB (MiB/s, higher is better)':44} {vm:13.1f} {gm['read_mib_s']:11.1f} {vm / gm['read_mib_s']:18.2f}")
else:
    print(f"{'seq. read 256 MiB (MiB/s, higher is better)':44} {vm:13.1f} {'not run':>11}")
print(f"guestmount start-up (one run, not in the read figure): {gm_start}")
print()
print(f"{'sequential read':26} {'MiB/s':>8} {'x kernel':>9} {'x redox-bridge VM':>18}")
for label, r in res.items():
    print(f"{label:26} {r['read_mib_s']:8.1f} {r['read_ratio']:9.2f} {r['read_mib_s'] / vm:18.2f}")
if why:
    print(f"libguestfs not run: {why}")
EOF
