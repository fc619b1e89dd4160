#!/usr/bin/env bash
# The main job in local mode (the embedded default when no VM is asked for): builds redox-bridge,
# makes a sample ext4 image, starts bridge-host and bridge-guest on this machine over a unix
# socket, mounts the schemes at /scheme, and reads /scheme/ext4/home/file.
#   bash tools/run-local.sh          start (restarts a running instance)
#   bash tools/run-local.sh stop     stop both daemons and unmount
# Run as root. Logs: /run/redox-bridge/*.log
set -euo pipefail
cd "$(dirname "$0")/.."
state=/run/redox-bridge
data=/var/lib/redox-bridge
mount=/scheme
ctl=(build/tools/bridgectl/bridgectl --control "$state/control.sock")

# shellcheck source=tools/daemon-lib.sh
. tools/daemon-lib.sh
stop() {
  stop_pidfiles "$state" bridge-guest bridge-host
  unmount_fuse "$mount"
}

if [ "${1:-start}" = stop ]; then
  stop
  echo "stopped"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "run-local.sh: run as root (FUSE mount at $mount)" >&2; exit 1; }
bash tools/build.sh
mkdir -p "$state" "$data"
stop
bash image/make-sample-disks.sh "$data" >/dev/null

setsid build/bridge-host/bridge-host --listen "unix:$state/guest.sock" \
  --control "$state/control.sock" --mount "$mount" >"$state/bridge-host.log" 2>&1 &
echo $! >"$state/bridge-host.pid"
setsid build/bridge-guest/bridge-guest --connect "unix:$state/guest.sock" --name local \
  --export "ext4=ext2fs:$data/sample-ext4.img" >"$state/bridge-guest.log" 2>&1 &
echo $! >"$state/bridge-guest.pid"

for _ in $(seq 100); do
  [ -e "$mount/ext4/home/file" ] && break
  sleep 0.1
done
if [ ! -e "$mount/ext4/home/file" ]; then
  echo "run-local.sh: /scheme/ext4 did not appear; logs follow" >&2
  tail -n 20 "$state"/*.log >&2
  exit 1
fi

set -x
cat /scheme/ext4/home/file
ls -l /scheme/ext4/home/user
"${ctl[@]}" status
"${ctl[@]}" cat ext4:/etc/bridge.conf
{ set +x; } 2>/dev/null
echo
echo "redox-bridge is running: /scheme/ext4 is the sample image. Logs in $state/."
echo "Stop with: bash tools/run-local.sh stop"
