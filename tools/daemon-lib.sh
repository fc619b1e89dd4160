# Shared by tools/run-local.sh and tools/run-vm.sh (sourced, not run): processes recorded in
# pid files, stopped gently, and the FUSE mount they leave.

# stop_pidfiles DIR NAME...: SIGTERM each DIR/NAME.pid in order, wait up to 5 s for it to end.
stop_pidfiles() {
  local dir=$1 name pid
  shift
  for name in "$@"; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/$name.pid"
  done
}

# unmount_fuse DIR: a FUSE mount left at DIR by a daemon that did not unmount is detached.
unmount_fuse() {
  if grep -qs " $1 fuse" /proc/mounts; then umount -l "$1" || true; fi
}
