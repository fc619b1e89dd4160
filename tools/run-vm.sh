#!/usr/bin/env bash
# The VM deployment: builds redox-bridge and the guest image, makes the sample ext4 and btrfs
# disks, starts bridge-host as QEMU's vhost-user-vsock device, boots the filesystem VM under QEMU
# (TCG) with the disks as virtio-blk, and reads /scheme/ext4/home/file and /scheme/btrfs/home/file
# once the guest's bridge-guest (a runit service) has connected.
#   bash tools/run-vm.sh          start (restarts a running instance)
#   bash tools/run-vm.sh stop     stop QEMU and bridge-host, unmount /scheme
# Run as root. bridge-host's log: /run/redox-bridge/vm/; the VM (named fsvm, started with
# bridgectl vm run) keeps its console and QEMU log in /run/redox-bridge/vms/fsvm/.
set -euo pipefail
cd "$(dirname "$0")/.."
state=/run/redox-bridge/vm
data=/var/lib/redox-bridge
mount=/scheme
image=build/guest-image

# shellcheck source=tools/daemon-lib.sh
. tools/daemon-lib.sh
ctl=build/tools/bridgectl/bridgectl
stop() {
  if [ -x "$ctl" ] && "$ctl" vm list | awk '$1 == "fsvm"' | grep -q .; then
    "$ctl" vm stop fsvm >/dev/null
  fi
  stop_pidfiles "$state" qemu bridge-host  # qemu.pid: left by versions before bridgectl vm
  unmount_fuse "$mount"
}

if [ "${1:-start}" = stop ]; then
  stop
  echo "stopped"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "run-vm.sh: run as root (FUSE mount at $mount, QEMU)" >&2; exit 1; }
bash tools/run-local.sh stop >/dev/null  # the local mode uses the same /scheme
bash tools/build.sh
mkdir -p "$state" "$data"
stop
echo "building the guest image (cached in $image)..."
bash image/build-guest.sh "$image" --build-dir build
bash image/make-sample-disks.sh "$data" >/dev/null

# File data takes the shared region (QEMU ivshmem-plain on a file bridge-host makes and stamps
# with its token): bridge-host first, then QEMU on the same file.
region="$state/fsvm.region"
setsid build/bridge-host/bridge-host \
  --listen "vhost-user:$state/vsock.sock,cid=3,region=$region,region-size=64" \
  --control /run/redox-bridge/control.sock --mount "$mount" >"$state/bridge-host.log" 2>&1 &
echo $! >"$state/bridge-host.pid"
for _ in $(seq 50); do [ -S "$state/vsock.sock" ] && break; sleep 0.1; done

cmdline="console=ttyS0 panic=-1 quiet bridge.export=ext4=ext2fs:/dev/vda"
cmdline+=" bridge.export=btrfs=btrfs:/dev/vdb"
"$ctl" vm run --name fsvm --kernel "$image/bzImage" --initrd "$image/initramfs.cpio.gz" \
  --disk "$data/sample-ext4.img" --disk "$data/sample-btrfs.img" --mem 512 --cpus 1 \
  --append "$cmdline" --vsock "$state/vsock.sock" --region 64 --region-file "$region"

echo "booting the filesystem VM (about 10 s under TCG)..."
for _ in $(seq 120); do
  timeout 5 cat "$mount/ext4/home/file" >/dev/null 2>&1 && break
  sleep 0.5
done
if ! timeout 5 cat "$mount/ext4/home/file" >/dev/null 2>&1; then
  echo "run-vm.sh: /scheme/ext4 did not appear; logs follow" >&2
  tail -n 20 "$state/bridge-host.log" /run/redox-bridge/vms/fsvm/console.log >&2
  exit 1
fi

set -x
cat /scheme/ext4/home/file
cat /scheme/btrfs/home/file
build/tools/bridgectl/bridgectl status
build/tools/bridgectl/bridgectl vm list
{ set +x; } 2>/dev/null
echo
echo "The filesystem VM is running: /scheme/ext4 and /scheme/btrfs come from Linux in QEMU."
echo "Stop with: bash tools/run-vm.sh stop"
