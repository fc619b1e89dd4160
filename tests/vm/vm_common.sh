# Shared by the QEMU tests (sourced): argument parsing and the checks every one of them makes.
# Expects $prog (the script's name) and $1.. (its arguments); sets here, repo, build_dir,
# boot_timeout.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir="${BRIDGE_BUILD_DIR:-$repo/build}"
boot_timeout="${VM_BOOT_TIMEOUT:-240}"  # seconds a guest run may take under TCG
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) [ $# -ge 2 ] || { echo "$prog: --build-dir needs a directory" >&2; exit 2; }
                 build_dir="$2"; shift 2 ;;
    *) echo "$prog: unknown argument '$1' (usage: $prog [--build-dir DIR])" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "$prog: run as root (FUSE mounts, apt-get, mkfs for the disks)" >&2; exit 1; }
build_dir=$(cd "$build_dir" 2>/dev/null && pwd) ||
  { echo "$prog: no build directory $build_dir: build first (bash tools/build.sh)" >&2; exit 1; }

# --- helpers for the tests that boot the guest with bridge-host as its vhost-user-vsock device ---
# (vm_vhost_user.sh, vm_e2e.sh). They use $prog, $tmp (the test's scratch directory),
# $build_dir and $boot_timeout; they set qemu_pid and host_pid, which vm_cleanup stops.
qemu_pid=""
host_pid=""
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }
stop_pid() {  # PID: SIGTERM, a moment's grace, then SIGKILL
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
kill_qemu() {  # QEMU is killed outright (its disks are the test's copies)
  if [ -n "$qemu_pid" ]; then kill -KILL "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  qemu_pid=""
}
vm_cleanup() {  # for the EXIT trap: QEMU, bridge-host and the FUSE mount gone, $tmp removed
  gsh_close
  kill_qemu
  stop_pid "$host_pid"
  host_pid=""
  if mountpoint -q "$tmp/scheme" 2>/dev/null; then
    fusermount3 -u "$tmp/scheme" 2>/dev/null || umount -l "$tmp/scheme" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
# Guest image (cached in BUILD_DIR/guest-image) and fresh sample disks in $tmp; sets image.
vm_prepare_image_and_disks() {
  image="$build_dir/guest-image"
  bash "$repo/image/build-guest.sh" "$image" --build-dir "$build_dir"
  bash "$repo/image/make-sample-disks.sh" "$tmp" >/dev/null 2>&1 ||
    { echo "$prog: image/make-sample-disks.sh failed: needs e2fsprogs and btrfs-progs (tools/setup.sh)" >&2; exit 1; }
}
# bridge-host as the vhost-user-vsock back-end on $tmp/vu.sock (guest CID 3), FUSE mount
# $tmp/scheme, log $tmp/host.log; sets host_pid.
# vm_start_host [LISTEN-OPTIONS [BRIDGE-HOST-ARGS...]]: bridge-host as the vhost-user-vsock
# device on $tmp/vu.sock; LISTEN-OPTIONS are appended to the listen spec (e.g.
# ",region=FILE,region-size=16"), BRIDGE-HOST-ARGS to its command line (e.g. --display-dir DIR).
vm_start_host() {
  local listen_opts="${1:-}"
  [ $# -eq 0 ] || shift
  local host_bin="$build_dir/bridge-host/bridge-host"
  [ -x "$host_bin" ] || { echo "$prog: no bridge-host at $host_bin: build first" >&2; exit 1; }
  mkdir -p "$tmp/scheme"
  "$host_bin" --listen "vhost-user:$tmp/vu.sock,cid=3$listen_opts" --mount "$tmp/scheme" \
    --control "$tmp/c.sock" --call-timeout 20 --log-level info "$@" >"$tmp/host.log" 2>&1 &
  host_pid=$!
  for _ in $(seq 1 50); do [ -S "$tmp/vu.sock" ] && break; sleep 0.1; done
  [ -S "$tmp/vu.sock" ] || { echo "$prog: bridge-host did not create $tmp/vu.sock" >&2; cat "$tmp/host.log" >&2; exit 1; }
}
# vm_start_qemu [--testshell] CMDLINE [QEMU-ARGS...]: one guest on the vhost-user socket, serial
# console appended to $tmp/console.log, QEMU's own output to $tmp/qemu.out; sets qemu_pid.
# --testshell: a virtio console (the guest's hvc0) on $tmp/shell.sock for guest_sh.
vm_start_qemu() {
  local shell_args=()
  if [ "$1" = --testshell ]; then
    shell_args=(-device virtio-serial-pci,id=vser0
      -chardev "socket,id=testshell,path=$tmp/shell.sock,server=on,wait=off"
      -device virtconsole,bus=vser0.0,chardev=testshell)
    shift
  fi
  local cmdline="$1"; shift
  qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -nodefaults \
    -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
    -chardev "socket,id=vu,path=$tmp/vu.sock" -device vhost-user-vsock-pci,chardev=vu \
    -serial "file:$tmp/console.log" -monitor none \
    -kernel "$image/bzImage" -initrd "$image/initramfs.cpio.gz" -append "$cmdline" \
    "${shell_args[@]}" "$@" </dev/null >>"$tmp/qemu.out" 2>&1 &
  qemu_pid=$!
}
# vm_wait_read PATH SECONDS: polls `cat PATH` (each try bounded) until it succeeds, QEMU exits
# or SECONDS pass; sets got to the text, or empty.
vm_wait_read() {
  local deadline=$(( $(date +%s) + $2 ))
  got=""
  while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$qemu_pid" 2>/dev/null; do
    got=$(timeout 10 cat "$1" 2>/dev/null) && return 0
    got=""
    sleep 0.5
  done
  return 0
}
# guest_sh SECONDS COMMAND [END]: runs COMMAND in the guest's test shell (image/guest/sv/testshell,
# kernel command line bridge.testshell=1) through the guest's virtio console hvc0, which QEMU
# connects to $tmp/shell.sock (vm_start_qemu --testshell). Sets gsh_out to what the command
# printed and returns its exit status, or 124 when no answer came within SECONDS. With END (a
# fixed string), stops at the first output line holding it and returns 0: for commands that do
# not come back (bridge-reboot). A unique tag marks the end of each command's output.
# One socat connection serves every command; it survives guest reboots (the socket is QEMU's).
gsh_pid=""
gsh_open() {  # (re)connects socat to $tmp/shell.sock; FIFOs carry its input and output
  gsh_close
  rm -f "$tmp/gsh.in" "$tmp/gsh.out"
  mkfifo "$tmp/gsh.in" "$tmp/gsh.out"
  # Opened read-write, FIFOs never block on open.
  exec {gsh_w}<>"$tmp/gsh.in" {gsh_r}<>"$tmp/gsh.out"
  socat - "UNIX-CONNECT:$tmp/shell.sock" <"$tmp/gsh.in" >"$tmp/gsh.out" 2>>"$tmp/gsh.err" &
  gsh_pid=$!
}
gsh_close() {
  [ -n "$gsh_pid" ] || return 0
  kill "$gsh_pid" 2>/dev/null || true
  wait "$gsh_pid" 2>/dev/null || true
  gsh_pid=""
  exec {gsh_w}>&- {gsh_r}<&-
}
guest_sh() {
  local limit="$1" cmd="$2" end="${3:-}" tag line part="" rc=124 deadline
  tag="gsh-done-$$-$RANDOM$RANDOM"
  gsh_out=""
  if [ -z "$gsh_pid" ] || ! kill -0 "$gsh_pid" 2>/dev/null; then gsh_open; fi
  # Output left from an earlier command (one stopped at END) is not this command's.
  while IFS= read -r -t 0.05 line <&"$gsh_r"; do :; done
  printf '%s\n' "$cmd; echo \"$tag=\$?\"" >&"$gsh_w"
  deadline=$(( $(date +%s) + limit ))
  while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$gsh_pid" 2>/dev/null; do
    # read -t keeps a partial line in `line` when it times out: carry it over.
    if ! IFS= read -r -t 1 line <&"$gsh_r"; then part+="$line"; continue; fi
    line="$part${line%$'\r'}"
    part=""
    case "$line" in *"$tag="*)
      [ -n "${line%%"$tag="*}" ] && gsh_out+="${line%%"$tag="*}"$'\n'
      rc=${line#*"$tag="}; break ;;
    esac
    gsh_out+="$line"$'\n'
    if [ -n "$end" ] && [[ "$line" == *"$end"* ]]; then rc=0; break; fi
  done
  return "$rc"
}
# guest_shell_ready SECONDS: waits until the test shell answers; fails with a message if not.
guest_shell_ready() {
  local deadline=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    guest_sh 3 "echo shell-ok" && [ "$gsh_out" = $'shell-ok\n' ] && return 0
    sleep 0.5
  done
  echo "$prog: the guest's test shell on $tmp/shell.sock did not answer within $1 s" >&2
  return 1
}
