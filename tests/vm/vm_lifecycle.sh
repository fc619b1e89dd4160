#!/usr/bin/env bash
# End-to-end test of the VM lifecycle under QEMU (TCG), with the guest image from
# image/build-guest.sh and the ext4/btrfs sample disks:
#   (a) bridgectl vm run boots the filesystem VM on bridge-host's vhost-user socket;
#       /scheme/ext4/home/file reads through the FUSE mount; vm list says running; a second
#       run of the same name is refused
#   (b) vm pause -> list says paused; vm resume -> a file not read before reads correctly
#   (c) vm stop -> QEMU gone, state directory removed, list empty
#   (d) bridge-host --config FILE with a `vm` line boots the VM itself: the scheme comes up and
#       bridge-host's stdout stays empty (QEMU writes only to the state directory)
#   (e) QEMU killed -> bridge-host starts it again and the scheme comes back
#   (f) SIGTERM to bridge-host stops QEMU too and removes its state
#
#   bash tests/vm/vm_lifecycle.sh [--build-dir DIR]     (root; ctest label: vm)
#
# Every QEMU this test started, bridge-host, the mount and the temporary directory are gone
# on exit.
set -euo pipefail
prog=vm_lifecycle.sh
# shellcheck source=tests/vm/vm_common.sh
. "$(dirname "$0")/vm_common.sh"
host_bin="$build_dir/bridge-host/bridge-host"
ctl="$build_dir/tools/bridgectl/bridgectl"
for b in "$host_bin" "$ctl"; do
  [ -x "$b" ] || { echo "$prog: no $(basename "$b") at $b: build first" >&2; exit 1; }
done
t0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

tmp=$(mktemp -d /tmp/redox-bridge-lc.XXXXXX)
vms="$tmp/vms"
host_pid=""
qemu_pids=()  # every QEMU pid seen, killed on exit if still there
stop_host() {  # SIGTERM, up to 20 s (it stops its VMs first), then SIGKILL
  [ -n "$host_pid" ] || return 0
  kill -TERM "$host_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$host_pid" 2>/dev/null || true
  wait "$host_pid" 2>/dev/null || true
  host_pid=""
}
cleanup() {
  for pid in "${qemu_pids[@]}" $(cat "$vms"/*/pid 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  stop_host
  if mountpoint -q "$tmp/scheme" 2>/dev/null; then
    fusermount3 -u "$tmp/scheme" 2>/dev/null || umount -l "$tmp/scheme" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

image="$build_dir/guest-image"
bash "$repo/image/build-guest.sh" "$image" --build-dir "$build_dir"
bash "$repo/image/make-sample-disks.sh" "$tmp" >/dev/null 2>&1 ||
  { echo "$prog: image/make-sample-disks.sh failed: needs e2fsprogs and btrfs-progs (tools/setup.sh)" >&2; exit 1; }
want_note=$(debugfs -R "cat /home/user/docs/note-3.txt" "$tmp/sample-ext4.img" 2>/dev/null)
t_image=$(since "$t0")

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok:   $*"; }
ext4_text='Hello from ext4, served by Linux through redox-bridge.'
cmdline="console=ttyS0 panic=-1 quiet bridge.export=ext4=ext2fs:/dev/vda bridge.export=btrfs=btrfs:/dev/vdb"
mkdir -p "$tmp/scheme"

start_host() {  # ARGS...: bridge-host in the background, its stdout and stderr kept apart
  "$host_bin" "$@" >"$tmp/host.out" 2>>"$tmp/host.log" &
  host_pid=$!
  for _ in $(seq 1 50); do [ -S "$tmp/vu.sock" ] && break; sleep 0.1; done
  [ -S "$tmp/vu.sock" ] || { echo "$prog: bridge-host did not create $tmp/vu.sock" >&2; cat "$tmp/host.log" >&2; exit 1; }
}
read_scheme() {  # PATH: sets got to its text, polling until boot_timeout; empty on failure
  local deadline=$(( $(date +%s) + boot_timeout ))
  got=""
  while [ "$(date +%s)" -lt "$deadline" ]; do
    got=$(timeout 10 cat "$tmp/scheme/$1" 2>/dev/null) && return 0
    got=""
    sleep 0.5
  done
}
vm_pid() { cat "$vms/fs/pid" 2>/dev/null || true; }
list_status() { "$ctl" vm list --state-dir "$vms" | awk '$1 == "fs" {print $3}'; }

echo "--- (a) bridgectl vm run"
start_host --listen "vhost-user:$tmp/vu.sock,cid=3" --mount "$tmp/scheme" \
  --control "$tmp/c.sock" --call-timeout 20
t_run=$(date +%s.%N)
if "$ctl" vm run --name fs --kernel "$image/bzImage" --initrd "$image/initramfs.cpio.gz" \
     --disk "$tmp/sample-ext4.img" --disk "$tmp/sample-btrfs.img" --mem 512 --cpus 1 \
     --append "$cmdline" --vsock "$tmp/vu.sock" --display bochs \
     --state-dir "$vms" >"$tmp/run.out" 2>&1; then
  ok "vm run: $(cat "$tmp/run.out")"
else fail "vm run failed: $(cat "$tmp/run.out")"; fi
qemu_pids+=("$(vm_pid)")
read_scheme ext4/home/file
t_first=$(since "$t_run")
if [ "$got" = "$ext4_text" ]; then ok "cat /scheme/ext4/home/file (${t_first}s after vm run)"
else fail "cat /scheme/ext4/home/file gave '$got'"; fi
status=$(list_status)
if [ "$status" = running ]; then ok "vm list: fs running (pid $(vm_pid))"
else fail "vm list says '$status', want running: $("$ctl" vm list --state-dir "$vms" 2>&1)"; fi
# QMP screendump through bridgectl: QEMU writes the bochs display (the guest's fbcon) as PPM.
if "$ctl" vm screendump fs "$tmp/screen.ppm" --state-dir "$vms" >"$tmp/shot.out" 2>&1 &&
   [ "$(head -c 2 "$tmp/screen.ppm")" = P6 ] && [ "$(stat -c %s "$tmp/screen.ppm")" -gt 100000 ]; then
  ok "vm screendump: a $(sed -n 2p "$tmp/screen.ppm") PPM of $(stat -c %s "$tmp/screen.ppm") bytes"
else fail "vm screendump: $(cat "$tmp/shot.out")"; fi
if out=$("$ctl" vm run --name fs --kernel "$image/bzImage" --vsock "$tmp/vu.sock" \
           --state-dir "$vms" 2>&1); then fail "a second vm run of fs succeeded: $out"
elif grep -q "already running" <<<"$out"; then ok "a second vm run is refused: $out"
else fail "a second vm run failed, but not saying it runs: $out"; fi

echo "--- (b) pause and resume"
"$ctl" vm pause fs --state-dir "$vms" >/dev/null || fail "vm pause failed"
status=$(list_status)
if [ "$status" = paused ]; then ok "vm list: fs paused"; else fail "after pause, list says '$status'"; fi
"$ctl" vm resume fs --state-dir "$vms" >/dev/null || fail "vm resume failed"
status=$(list_status)
if [ "$status" = running ]; then ok "vm list: fs running again"; else fail "after resume, list says '$status'"; fi
read_scheme ext4/home/user/docs/note-3.txt
if [ -n "$want_note" ] && [ "$got" = "$want_note" ]; then ok "after resume, a file not read before reads correctly"
else fail "after resume, note-3.txt gave '$got', want '$want_note'"; fi

echo "--- (c) stop"
pid=$(vm_pid)
t_stop=$(date +%s.%N)
"$ctl" vm stop fs --state-dir "$vms" >"$tmp/stop.out" 2>&1 || fail "vm stop failed: $(cat "$tmp/stop.out")"
t_stop=$(since "$t_stop")
if kill -0 "$pid" 2>/dev/null; then fail "QEMU (pid $pid) still runs after vm stop"
else ok "QEMU (pid $pid) is gone (${t_stop}s)"; fi
if [ -e "$vms/fs" ]; then fail "state directory $vms/fs is still there"; else ok "state directory removed"; fi
if [ -z "$(list_status)" ]; then ok "vm list no longer shows fs"; else fail "vm list still shows fs"; fi
stop_host

echo "--- (d) bridge-host --config boots the VM"
cat >"$tmp/host.conf" <<CONF
# bridge-host config for the test
listen vhost-user:$tmp/vu.sock,cid=3
mount $tmp/scheme
control $tmp/c.sock
call-timeout 20
vm-state-dir $vms
vm fs kernel=$image/bzImage initrd=$image/initramfs.cpio.gz disk=$tmp/sample-ext4.img disk=$tmp/sample-btrfs.img mem=512 cpus=1 vsock=$tmp/vu.sock append=$cmdline
CONF
rm -f "$tmp/vu.sock"
t_boot=$(date +%s.%N)
start_host --config "$tmp/host.conf"
read_scheme ext4/home/file
t_boot=$(since "$t_boot")
qemu_pids+=("$(vm_pid)")
if [ "$got" = "$ext4_text" ]; then ok "the config's VM serves /scheme/ext4/home/file (${t_boot}s)"
else fail "with --config, /scheme/ext4/home/file gave '$got'"; fi
if [ ! -s "$tmp/host.out" ]; then ok "nothing on bridge-host's stdout"
else fail "bridge-host's stdout has: $(head -c 300 "$tmp/host.out")"; fi
if grep -v "bridge-host" "$tmp/host.log" | grep -q .; then
  fail "lines on bridge-host's stderr that are not its own log: $(grep -v bridge-host "$tmp/host.log" | head -3)"
else ok "bridge-host's stderr holds only its own log lines"; fi
if [ -s "$vms/fs/console.log" ]; then ok "the guest console went to $vms/fs/console.log"
else fail "no console.log in the VM's state directory"; fi

echo "--- (e) QEMU dies: bridge-host starts it again"
old=$(vm_pid)
kill -KILL "$old"
t_again=$(date +%s.%N)
new=""
for _ in $(seq 1 100); do
  new=$(vm_pid)
  [ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null && break
  new=""
  sleep 0.2
done
qemu_pids+=("$new")
if [ -n "$new" ]; then ok "a new QEMU (pid $new) replaced pid $old"; else fail "no new QEMU after killing pid $old"; fi
got=""
deadline=$(( $(date +%s) + boot_timeout ))
while [ "$(date +%s)" -lt "$deadline" ]; do  # reads fail with EIO until the new guest connects
  got=$(timeout 10 cat "$tmp/scheme/ext4/home/file" 2>/dev/null) && break
  got=""
  sleep 0.5
done
t_again=$(since "$t_again")
if [ "$got" = "$ext4_text" ]; then ok "the scheme came back (${t_again}s after the kill)"
else fail "after the restart, /scheme/ext4/home/file gave '$got'"; fi

echo "--- (f) SIGTERM to bridge-host stops the VM"
pid=$(vm_pid)
stop_host
if kill -0 "$pid" 2>/dev/null; then fail "QEMU (pid $pid) outlived bridge-host"; else ok "QEMU (pid $pid) stopped with bridge-host"; fi
if [ -e "$vms/fs" ]; then fail "state directory $vms/fs left behind"; else ok "state directory removed"; fi
if grep -q "stopping QEMU" "$tmp/host.log"; then ok "bridge-host logged the VM's stop"; else fail "no 'stopping QEMU' in bridge-host's log"; fi

echo "--- timings: image+disks ${t_image}s; vm run to first byte ${t_first}s; vm stop ${t_stop}s;" \
  "config boot ${t_boot}s; restart ${t_again}s; total $(since "$t0")s"
if [ "$failures" -gt 0 ]; then
  echo "--- $failures check(s) failed; bridge-host log follows" >&2
  tail -n 40 "$tmp/host.log" >&2
  for f in "$vms"/*/qemu.log* "$vms"/*/console.log*; do
    [ -f "$f" ] || continue
    echo "--- $f" >&2; tr -d '\r' <"$f" | tail -n 30 >&2
  done
  exit 1
fi
echo "vm lifecycle: all checks passed"
