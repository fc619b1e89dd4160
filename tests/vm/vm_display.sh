#!/usr/bin/env bash
# The display path end to end under QEMU (TCG), once with -device bochs-display and once with
# -device virtio-gpu-pci: bridge-host is the guest's vhost-user-vsock device and owns the 16 MiB
# region file behind QEMU's ivshmem-plain device; the guest's bridge-guest serves the card
# (bridge.export=display=drm:auto) as display.<driver>; bridge-host exposes it on
# $tmp/display/display.<driver>.sock. A host client (tests/vm/display_probe, libbridge_display)
# then, with QMP screendumps (tests/vm/qmp_screen.py) checking exact pixels:
#   (a) info: the mode list reaches the host and is the one the guest's kernel lists for the
#       connected connector (sysfs, read through the guest test shell), incl. 1024x768, and the
#       preferred mode is the guest's first (preferred) one
#   (b) attach (preferred mode), colour bars + a 64x64 square drawn into the back shadow buffer
#       and page-flipped (the flip waits for the guest's flipDone): the screendump shows them
#   (c) one 64x64 damage rect: the next screendump differs from the first only inside it
#   (d) a second client gets EBUSY naming the owner's pid; after the owner quits, it attaches
#
#   bash tests/vm/vm_display.sh [--build-dir DIR]     (root; ctest label: display)
#   DISPLAY_SCREENSHOT=PATH   also save the bochs-display screendump of (b) as a PNG
#
# QEMU, bridge-host and the clients are always killed and the temporary directory removed.
set -euo pipefail
prog=vm_display.sh
# shellcheck source=tests/vm/vm_common.sh
. "$(dirname "$0")/vm_common.sh"
for tool in python3 socat; do
  command -v "$tool" >/dev/null || { echo "$prog: $tool missing (tools/setup.sh installs it)" >&2; exit 1; }
done
probe_bin="$build_dir/tests/vm/display_probe"
[ -x "$probe_bin" ] || { echo "$prog: no $probe_bin: build first (bash tools/build.sh)" >&2; exit 1; }
screen="$here/qmp_screen.py"

t0=$(date +%s.%N)
tmp=$(mktemp -d /tmp/redox-bridge-display.XXXXXX)
probe_pid=""
probe_stop() {
  [ -n "$probe_pid" ] || return 0
  { printf 'quit\n' >&"$probe_w"; } 2>/dev/null || true
  stop_pid "$probe_pid"
  probe_pid=""
  exec {probe_w}>&- {probe_r}<&-
}
cleanup() { probe_stop; vm_cleanup; }
trap cleanup EXIT

image="$build_dir/guest-image"
bash "$repo/image/build-guest.sh" "$image" --build-dir "$build_dir"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok:   $*"; }

# probe_start SOCKET: the client, fed through a FIFO so it stays attached between commands.
probe_start() {
  rm -f "$tmp/probe.in" "$tmp/probe.out"
  mkfifo "$tmp/probe.in" "$tmp/probe.out"
  exec {probe_w}<>"$tmp/probe.in" {probe_r}<>"$tmp/probe.out"
  "$probe_bin" "$1" <"$tmp/probe.in" >"$tmp/probe.out" 2>>"$tmp/probe.err" &
  probe_pid=$!
}
# probe COMMAND [SECONDS]: sets reply to the client's one-line answer.
probe() {
  printf '%s\n' "$1" >&"$probe_w"
  IFS= read -r -t "${2:-60}" reply <&"$probe_r" || reply="(no answer to '$1' within ${2:-60}s)"
}
# screen ARGS...: runs qmp_screen.py, prints its lines, counts its failures.
screen() {
  local out rc=0
  out=$(python3 "$screen" "$@") || rc=$?
  [ -z "$out" ] || echo "$out"
  [ "$rc" = 0 ] || failures=$((failures + 1))
  return "$rc"
}

# DEVICE DRIVER-SCHEME-SUFFIX: the checks for one device; returns early when a step fails so
# that the rest cannot run (run_device tears down whatever was started).
device_checks() {
  local device=$1 suffix=$2 sock guest_modes info_modes preferred first w h
  local scheme="display.$suffix"
  rm -rf "$tmp/shm" "$tmp/display" "$tmp"/*.sock "$tmp"/*.ppm
  mkdir -p "$tmp/shm" "$tmp/display"
  : >"$tmp/console.log"
  vm_start_host ",region=$tmp/shm/region,region-size=16" --display-dir "$tmp/display"
  local cmdline="console=ttyS0 panic=-1 quiet bridge.testshell=1 bridge.export=display=drm:auto"
  vm_start_qemu --testshell "$cmdline" -no-reboot \
    -object "memory-backend-file,id=region,mem-path=$tmp/shm/region,size=16M,share=on" \
    -device ivshmem-plain,memdev=region -device "$device" \
    -qmp "unix:$tmp/qmp.sock,server=on,wait=off"

  sock="$tmp/display/$scheme.sock"
  local deadline=$(( $(date +%s) + boot_timeout ))
  while [ ! -S "$sock" ] && [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$qemu_pid" 2>/dev/null; do
    sleep 0.5
  done
  if [ ! -S "$sock" ]; then
    fail "$sock did not appear within ${boot_timeout}s"
    return
  fi
  ok "$sock appeared $(since "$t_dev")s after start"  # t_dev: run_device's
  if grep -q "region: 16 MiB shared with guest" "$tmp/host.log"; then
    ok "the guest mapped the ivshmem region"
  else
    fail "the hellos did not agree on the region ($(grep -i region "$tmp/host.log" | tail -n 2))"
  fi

  echo "--- (a) the mode list"
  guest_shell_ready 60 || { fail "no guest test shell"; return; }
  guest_modes=""
  # shellcheck disable=SC2016 # expanded by the guest's shell
  if guest_sh 15 'for d in /sys/class/drm/card*-*; do [ "$(cat $d/status)" = connected ] && cat $d/modes; done'; then
    guest_modes=$(printf '%s' "$gsh_out" | tr -d '\r' | grep -E '^[0-9]+x[0-9]+' || true)
  fi
  first=$(printf '%s\n' "$guest_modes" | head -n1)
  probe_start "$sock"
  probe info
  echo "  host: $reply"
  if [[ "$reply" != "ok info "* ]]; then
    fail "info: $reply"
  else
    info_modes=$(printf '%s\n' "$reply" | sed -n 's/.* modes=\([^ ]*\).*/\1/p' | tr ',' '\n' | sed 's/@.*//')
    preferred=$(printf '%s\n' "$reply" | sed -n 's/.* preferred=\([^ ]*\).*/\1/p')
    echo "  guest (sysfs): $(printf '%s' "$guest_modes" | tr '\n' ' ')"
    if [ -n "$guest_modes" ] && [ "$info_modes" = "$guest_modes" ]; then
      ok "the host's mode list is the guest's, in its order ($(wc -l <<<"$info_modes") modes)"
    else
      fail "mode lists differ: host '$(tr '\n' ' ' <<<"$info_modes")' guest '$(tr '\n' ' ' <<<"$guest_modes")'"
    fi
    if grep -qx 1024x768 <<<"$info_modes"; then ok "1024x768 is among them"; else fail "no 1024x768 in the host's list"; fi
    if [ -n "$first" ] && [ "$preferred" = "$first" ]; then ok "preferred mode $preferred (the guest's first)"
    else fail "preferred mode '$preferred', the guest lists '$first' first"; fi
  fi

  echo "--- (b) attach, colour bars flipped to the screen"
  probe attach
  echo "  host: $reply"
  if [[ "$reply" != "ok attach "* ]]; then
    fail "attach: $reply"
    return
  fi
  w=$(sed -n 's/^ok attach \([0-9]*\)x\([0-9]*\).*/\1/p' <<<"$reply")
  h=$(sed -n 's/^ok attach \([0-9]*\)x\([0-9]*\).*/\2/p' <<<"$reply")
  if [ "${w}x$h" = "$preferred" ]; then ok "attached at the preferred mode ${w}x$h"
  else fail "attached at ${w}x$h, preferred is $preferred"; fi
  probe bars
  if [[ "$reply" == "ok bars"* ]]; then ok "bars flipped (flipDone came back): $reply"; else fail "bars: $reply"; fi
  if screen dump "$tmp/qmp.sock" "$tmp/s1.ppm" && screen check-pattern "$tmp/s1.ppm" "$w" "$h"; then
    if [ -n "${DISPLAY_SCREENSHOT:-}" ] && [ "$device" = bochs-display ]; then
      screen png "$tmp/s1.ppm" "$DISPLAY_SCREENSHOT" || true
    fi
  fi

  echo "--- (c) one 64x64 damage rect"
  probe "fill 320 192 64 64 abcdef"
  if [ "$reply" = "ok fill" ]; then ok "damage sent"; else fail "fill: $reply"; fi
  if [ -f "$tmp/s1.ppm" ] && screen dump "$tmp/qmp.sock" "$tmp/s2.ppm"; then
    screen check-rect "$tmp/s1.ppm" "$tmp/s2.ppm" 320 192 64 64 abcdef || true
  fi

  echo "--- (d) one owner at a time"
  local second
  second=$(printf 'attach\n' | timeout 30 "$probe_bin" "$sock" 2>&1 || true)
  echo "  second client: $second"
  if [[ "$second" == "err attach EBUSY:"*"pid $probe_pid"* ]]; then ok "a second client gets EBUSY naming pid $probe_pid"
  else fail "the second client's attach gave '$second' (want EBUSY naming pid $probe_pid)"; fi
  probe_stop
  second=$(printf 'attach\ndetach\n' | timeout 30 "$probe_bin" "$sock" 2>&1 || true)
  if [[ "$second" == "ok attach "* ]]; then ok "after the owner quit, a new client attaches"
  else fail "after the owner quit, attach gave '$second'"; fi

}

# DEVICE DRIVER-SCHEME-SUFFIX
run_device() {
  local device=$1 before=$failures t_dev
  echo "=== $device (display.$2)"
  t_dev=$(date +%s.%N)
  device_checks "$@"
  probe_stop
  if [ -n "$host_pid" ] && ! kill -0 "$host_pid" 2>/dev/null; then fail "bridge-host died"; fi
  if [ "$failures" -gt "$before" ]; then
    echo "--- bridge-host log ($device)" >&2; tail -n 40 "$tmp/host.log" >&2
    echo "--- serial console ($device)" >&2; tr -d '\r' <"$tmp/console.log" | tail -n 40 >&2
    if guest_sh 10 "tail -n 30 /var/log/bridge-guest/current"; then
      echo "--- bridge-guest log ($device)" >&2; printf '%s' "$gsh_out" >&2
    fi
    echo "--- probe stderr" >&2; cat "$tmp/probe.err" >&2 2>/dev/null || true
    echo "--- qemu output" >&2; cat "$tmp/qemu.out" >&2 2>/dev/null || true
  fi
  gsh_close
  kill_qemu
  stop_pid "$host_pid"
  host_pid=""
  echo "--- $device: $(since "$t_dev")s"
}

run_device bochs-display bochs
run_device virtio-gpu-pci virtio-gpu

echo "--- total $(since "$t0")s"
if [ "$failures" -gt 0 ]; then
  echo "vm display: $failures check(s) failed" >&2
  exit 1
fi
echo "vm display: all checks passed"
