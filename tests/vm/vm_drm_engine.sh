#!/usr/bin/env bash
# The drm engine on real QEMU display devices (TCG): boots the guest image twice, once with
# -device bochs-display and once with -device virtio-gpu-pci. Inside (kernel command line
# bridge.drmtest=1 bridge.export=display=drm:auto), runit starts bridge-guest, which opens the
# card and names the export display.<driver>; the drmtest service then stops it (it holds DRM
# master) and runs drm_selftest: modeset, colour bars plus a 64x64 square copied from a shadow
# with the engine's copy routine, then one 64x64 rect. tests/vm/vm_drm_screen.py takes QMP
# screendumps after each step and checks exact pixels, and that the second dump differs from
# the first in exactly that rect. Page flip, vblank and cursor outcomes are printed per driver.
#
#   bash tests/vm/vm_drm_engine.sh [--build-dir DIR]     (root; ctest label: display)
#   VM_DRM_BENCH=1   also run bench/drm_native_bench in the guest and print its numbers
set -euo pipefail
prog=vm_drm_engine.sh
# shellcheck source=tests/vm/vm_common.sh
. "$(dirname "$0")/vm_common.sh"
command -v python3 >/dev/null || { echo "$prog: python3 missing (tools/setup.sh installs it)" >&2; exit 1; }

work=$(mktemp -d /tmp/redox-bridge-drm.XXXXXX)
qemu_pid=""
stop_qemu() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -KILL "$qemu_pid" 2>/dev/null || true
  fi
  [ -n "$qemu_pid" ] && { wait "$qemu_pid" 2>/dev/null || true; }
  qemu_pid=""
}
cleanup() { stop_qemu; rm -rf "$work"; }
trap cleanup EXIT

image="$build_dir/guest-image"
bash "$repo/image/build-guest.sh" "$image" --build-dir "$build_dir"

failures=0
check() {  # DESCRIPTION FIXED-STRING (somewhere in the console)
  if grep -qF -- "$2" "$run/c.txt"; then echo "ok:   $1"; else
    echo "FAIL: $1 (no console line with: $2)"; failures=$((failures + 1)); fi
}

# DEVICE EXPORT-NAME DRIVER
run_device() {
  local device=$1 scheme=$2 driver=$3 t0
  run="$work/$device"
  mkdir -p "$run"
  local cmdline="console=ttyS0 panic=-1 quiet bridge.drmtest=1 bridge.export=display=drm:auto"
  [ "${VM_DRM_BENCH:-0}" = 1 ] && cmdline+=" bridge.drmbench=1"
  echo "=== $device"
  t0=$(date +%s)
  # ttyS0: the console (a file); ttyS1: the control line the host nudges the guest with.
  qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nodefaults -no-reboot -display none \
    -serial "file:$run/console.log" \
    -chardev "socket,id=ctl,path=$run/ctl.sock,server=on,wait=off" -device isa-serial,chardev=ctl \
    -qmp "unix:$run/qmp.sock,server=on,wait=off" -monitor none \
    -kernel "$image/bzImage" -initrd "$image/initramfs.cpio.gz" -append "$cmdline" \
    -device "$device" </dev/null >"$run/qemu.out" 2>&1 &
  qemu_pid=$!
  local screen=0
  python3 "$here/vm_drm_screen.py" "$run/console.log" "$run/qmp.sock" "$run/ctl.sock" "$run" \
    "$boot_timeout" || screen=$?
  # The guest prints the rest (flip, vblank, cursor) and powers off.
  local deadline=$(( $(date +%s) + 60 ))
  while kill -0 "$qemu_pid" 2>/dev/null && ! grep -q '^DRMTEST end' "$run/console.log" &&
        [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.5; done
  sleep 0.5
  stop_qemu
  tr -d '\r' <"$run/console.log" >"$run/c.txt"
  [ "$screen" = 0 ] || failures=$((failures + 1))
  check "bridge-guest opened the card from bridge.export=display=drm:auto as $scheme" \
    "DRMTEST export: export '$scheme': drm on /dev/dri/card0 (driver $driver)"
  check "the self-test found the card ($driver)" "DRMTEST caps /dev/dri/card0 driver=$driver scheme=$scheme"
  check "the self-test exited 0" "DRMTEST selftest exit 0"
  if grep -q '^DRMTEST.*FAIL' "$run/c.txt"; then
    echo "FAIL: $(grep '^DRMTEST.*FAIL' "$run/c.txt" | head -n1)"; failures=$((failures + 1))
  fi
  echo "--- $device: modes the engine saw, and what the driver supports"
  if grep -q "takes no dirty" "$run/c.txt"; then
    grep -h "takes no dirty" "$run/c.txt" | head -n1 | sed 's|^.*/dev/dri/card[0-9]*: |  dirty: |'
  else
    echo "  dirty: the driver takes dirty rectangles"
  fi
  sed -n 's/^DRMTEST \(mode\|connector\|modeset\|caps\|flip\|vblank\|cursor\)/  \1/p' "$run/c.txt"
  sed -n 's/^DRMBENCH /  bench: /p' "$run/c.txt"
  echo "--- $device: $(( $(date +%s) - t0 ))s"
  if [ "$failures" -gt 0 ]; then
    echo "--- serial console ($device)" >&2; cat "$run/c.txt" >&2
    echo "--- qemu output" >&2; cat "$run/qemu.out" >&2
  fi
}

run_device bochs-display display.bochs bochs-drm
run_device virtio-gpu-pci display.virtio-gpu virtio_gpu

if [ "$failures" -gt 0 ]; then
  echo "vm drm engine: $failures check(s) failed" >&2
  exit 1
fi
echo "vm drm engine: all checks passed"
