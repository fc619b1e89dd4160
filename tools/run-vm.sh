#!/usr/bin/env bash
# The VM deployment: builds redox-bridge and the guest image, makes the sample ext4 and btrfs
# disks, starts bridge-host as QEMU's vhost-user-vsock device, boots the filesystem VM under QEMU
# (TCG) with the disks as virtio-blk, and reads /scheme/ext4/home/file and /scheme/btrfs/home/file
# once the guest's bridge-guest (a runit service) has connected.
#   bash tools/run-vm.sh          start (restarts a running instance)
#   bash tools/run-vm.sh stop     stop QEMU and bridge-host, unmount /scheme
# Run as root. Logs and the guest console: /run/redox-bridge/vm/
set -euo pipefail
cd "$(dirname "$0")/.."
state=/run/redox-bridge/vm
data=/var/lib/redox-bridge
mount=/scheme
image=build/guest-image

# shellcheck source=tools/daemon-lib.sh
. tools/daemon-lib.sh
stop() {
  stop_pidfiles "$state" qemu bridge-host
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

setsid build/bridge-host/bridge-host --listen "vhost-user:$state/vsock.sock,cid=3" \
  --control /run/redox-bridge/control.sock --mount "$mount" >"$state/bridge-host.log" 2>&1 &
echo $! >"$state/bridge-host.pid"
for _ in $(seq 50); do [ -S "$state/vsock.sock" ] && break; sleep 0.1; done

cmdline="console=ttyS0 panic=-1 quiet bridge.export=ext4=ext2fs:/dev/vda"
cmdline+=" bridge.export=btrfs=btrfs:/dev/vdb"
setsid qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -nodefaults -no-reboot \
  -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
  -chardev "socket,id=vu,path=$state/vsock.sock" -device vhost-user-vsock-pci,chardev=vu \
  -serial "file:$state/console.log" -monitor none \
  -kernel "$image/bzImage" -initrd "$image/initramfs.cpio.gz" -append "$cmdline" \
  -drive "file=$data/sample-ext4.img,if=virtio,format=raw" \
  -drive "file=$data/sample-btrfs.img,if=virtio,format=raw" \
  </dev/null >"$state/qemu.log" 2>&1 &
echo $! >"$state/qemu.pid"

echo "booting the filesystem VM (about 10 s under TCG)..."
for _ in $(seq 120); do
  timeout 5 cat "$mount/ext4/home/file" >/dev/null 2>&1 && break
  sleep 0.5
done
if ! timeout 5 cat "$mount/ext4/home/file" >/dev/null 2>&1; then
  echo "run-vm.sh: /scheme/ext4 did not appear; logs follow" >&2
  tail -n 20 "$state/bridge-host.log" "$state/console.log" >&2
  exit 1
fi

set -x
cat /scheme/ext4/home/file
cat /scheme/btrfs/home/file
build/tools/bridgectl/bridgectl status
{ set +x; } 2>/dev/null
echo
echo "The filesystem VM is running: /scheme/ext4 and /scheme/btrfs come from Linux in QEMU."
echo "Stop with: bash tools/run-vm.sh stop"
