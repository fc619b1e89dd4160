#!/usr/bin/env bash
# End-to-end test under QEMU (TCG): boots the guest image that image/build-guest.sh makes, with
# the ext4 and btrfs sample disks as virtio-blk vda and vdb, and reads the serial console.
# Inside the guest (kernel command line bridge.selftest=1), runit starts bridge-guest from the
# kernel command line's bridge.export=/bridge.connect=, plus an in-guest bridge-host on AF_VSOCK
# port 5151; bridge-guest dials vsock:1:5151, i.e. real AF_VSOCK on both ends through the
# kernel's vsock loopback. The guest's selftest service prints what bridgectl reads before and
# after it SIGKILLs bridge-guest; this script checks every line, so the guest reports and the
# host decides.
#
#   bash tests/vm/vm_selftest.sh [--build-dir DIR]     (root; ctest label: vm)
#
# The guest image is cached in BUILD_DIR/guest-image (a warm rebuild takes seconds). Everything
# else lives in a temporary directory that is removed on exit; QEMU is always killed.
set -euo pipefail
prog=vm_selftest.sh
# shellcheck source=tests/vm/vm_common.sh
. "$(dirname "$0")/vm_common.sh"

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

work=$(mktemp -d /tmp/redox-bridge-vm.XXXXXX)
qemu_pid=""
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

image="$build_dir/guest-image"
bash "$repo/image/build-guest.sh" "$image" --build-dir "$build_dir"
bash "$repo/image/make-sample-disks.sh" "$work" >/dev/null 2>&1 ||
  { echo "$prog: image/make-sample-disks.sh failed: needs e2fsprogs and btrfs-progs (tools/setup.sh)" >&2; exit 1; }
t_image=$(elapsed)

console="$work/console.log"
: >"$console"
cmdline="console=ttyS0 panic=-1 quiet bridge.selftest=1 bridge.connect=vsock:1:5151"
cmdline+=" bridge.export=ext4=ext2fs:/dev/vda bridge.export=btrfs=btrfs:/dev/vdb"
t_qemu=$(date +%s.%N)
# -no-reboot + panic=-1: a guest panic ends QEMU instead of looping; -nodefaults: no NIC, no
# VGA, only what is given here.
qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -nodefaults -no-reboot \
  -serial "file:$console" -monitor none \
  -kernel "$image/bzImage" -initrd "$image/initramfs.cpio.gz" -append "$cmdline" \
  -drive "file=$work/sample-ext4.img,if=virtio,format=raw" \
  -drive "file=$work/sample-btrfs.img,if=virtio,format=raw" \
  </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!

# Wait for the selftest's last line or QEMU's exit (the guest powers off), never longer than
# the bound.
deadline=$(( $(date +%s) + boot_timeout ))
while kill -0 "$qemu_pid" 2>/dev/null && ! grep -q '^SELFTEST done' "$console"; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "$prog: the guest did not finish within ${boot_timeout}s (VM_BOOT_TIMEOUT); console follows" >&2
    break
  fi
  sleep 0.5
done
t_vm=$(awk -v a="$t_qemu" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
# Give a powering-off guest a moment, then make sure QEMU is gone.
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
kill -KILL "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""

tr -d '\r' <"$console" >"$work/c.txt"
failures=0
check() {  # DESCRIPTION  FIXED-STRING-EXPECTED-AS-A-WHOLE-LINE-PREFIX
  if grep -qF -- "$2" "$work/c.txt"; then
    echo "ok:   $1"
  else
    echo "FAIL: $1 (no console line with: $2)"
    failures=$((failures + 1))
  fi
}
check_line() {  # DESCRIPTION  EXACT-LINE
  if grep -qxF -- "$2" "$work/c.txt"; then
    echo "ok:   $1"
  else
    echo "FAIL: $1 (no console line equal to: $2)"
    failures=$((failures + 1))
  fi
}
value() { sed -n "s/^SELFTEST $1 //p" "$work/c.txt" | head -n1; }

ext4_text='Hello from ext4, served by Linux through redox-bridge.'
btrfs_text='Hello from btrfs, served by Linux through redox-bridge.'

echo "--- (a) the kernel boots and runit starts bridge-guest as a service"
check "init loaded the modules" "init: modules loaded"
check "init handed over to runsvdir" "init: starting runsvdir"
check "runit ran runit/bridge-guest/run with the kernel command line's config" \
  "bridge-guest/run: starting: --connect vsock:1:5151 --export ext4=ext2fs:/dev/vda --export btrfs=btrfs:/dev/vdb"
if grep -q '^init: cannot load' "$work/c.txt"; then
  echo "FAIL: a required module did not load: $(grep '^init: cannot load' "$work/c.txt" | head -n1)"
  failures=$((failures + 1))
fi
before=$(value 'pid\[before\]')
if [[ "$before" =~ ^[0-9]+$ ]]; then echo "ok:   runit reports bridge-guest running (pid $before)"
else echo "FAIL: runit never reported bridge-guest running (pid[before] '$before')"; failures=$((failures + 1)); fi

echo "--- (b) AF_VSOCK on both ends through the vsock loopback (CID 1); both disks read"
check "in-guest bridge-host accepted bridge-guest over AF_VSOCK from CID 1" \
  "info: guest connection from vsock:1:"
check_line "bridgectl cat ext4:/home/file (ext2fs engine on /dev/vda)" \
  "SELFTEST cat[first] ext4:/home/file: $ext4_text"
check_line "bridgectl cat btrfs:/home/file (btrfs engine, kernel mount of /dev/vdb)" \
  "SELFTEST cat[first] btrfs:/home/file: $btrfs_text"

echo "--- (c) SIGKILL of bridge-guest is healed by runit"
after=$(value 'pid\[after\]')
if [[ "$after" =~ ^[0-9]+$ ]] && [ "$after" != "$before" ]; then
  echo "ok:   runit started a new bridge-guest (pid $before -> $after)"
else
  echo "FAIL: no new bridge-guest pid after the kill (before '$before', after '$after')"
  failures=$((failures + 1))
fi
check "runit's finish script saw the SIGKILL" "bridge-guest/finish: bridge-guest exited: code -1, status 9"
check_line "bridgectl cat ext4:/home/file works again" "SELFTEST cat[after] ext4:/home/file: $ext4_text"
check_line "bridgectl cat btrfs:/home/file works again" "SELFTEST cat[after] btrfs:/home/file: $btrfs_text"
check "the selftest reached its end" "SELFTEST done"

ready=$(value ready); first=$(value first-byte); done_t=$(value "done")
echo "--- timings: image+disks ${t_image}s; guest uptime at bridge-guest running ${ready:-?}s," \
  "first byte ${first:-?}s, selftest done ${done_t:-?}s; QEMU wall ${t_vm}s; total $(elapsed)s"

if [ "$failures" -gt 0 ]; then
  echo "--- $failures check(s) failed; serial console follows" >&2
  cat "$work/c.txt" >&2
  echo "--- qemu output" >&2
  cat "$work/qemu.out" >&2
  exit 1
fi
echo "vm selftest: all checks passed"
