#!/usr/bin/env bash
# End-to-end test of `bridge-host --listen vhost-user:PATH,cid=3` under QEMU (TCG): bridge-host
# on THIS machine is the guest's vhost-user-vsock device (no host kernel vsock), the guest
# image from image/build-guest.sh boots with the ext4 and btrfs sample disks as vda/vdb, and its
# bridge-guest dials vsock:2:5151 (the image's default). Everything is checked on the host,
# through bridge-host's FUSE mount:
#   (a) /scheme/ext4/home/file and /scheme/btrfs/home/file read the sample text
#   (b) the 4 MiB /srv/random-4M.bin has the sha256 of the disk's copy (read with debugfs), and
#       it came through the shared region: bridge-host owns the 16 MiB region file behind QEMU's
#       ivshmem-plain device (region=FILE), the guest's bridge-guest maps BAR2 (--region auto),
#       the hellos agree on the size, and the host logs that file reads use the region
#   (c) QEMU frozen with a read in flight, then killed: that read fails with EIO within
#       seconds, so does a new one (no hang), and bridge-host lives on
#   (d) a second QEMU on the same vhost-user socket brings the schemes back
#
#   bash tests/vm/vm_vhost_user.sh [--build-dir DIR]     (root; ctest label: vm)
#
# QEMU and bridge-host are always killed, the mount is always gone and the temporary directory
# is removed on exit.
set -euo pipefail
prog=vm_vhost_user.sh
# shellcheck source=tests/vm/vm_common.sh
. "$(dirname "$0")/vm_common.sh"
t0=$(date +%s.%N)
tmp=$(mktemp -d /tmp/redox-bridge-vu.XXXXXX)
trap vm_cleanup EXIT

vm_prepare_image_and_disks
# The expected digest, straight from the ext4 image (debugfs reads it without mounting).
want_sha=$(debugfs -R "cat /srv/random-4M.bin" "$tmp/sample-ext4.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
t_image=$(since "$t0")

mkdir -p "$tmp/shm"
region_file="$tmp/shm/fsvm.region"
region_mib=16
vm_start_host ",region=$region_file,region-size=$region_mib"

console="$tmp/console.log"
: >"$console"
cmdline="console=ttyS0 panic=-1 quiet"
cmdline+=" bridge.export=ext4=ext2fs:/dev/vda bridge.export=btrfs=btrfs:/dev/vdb"
start_qemu() {  # -no-reboot + panic=-1: a guest panic ends QEMU instead of looping
  vm_start_qemu "$cmdline" -no-reboot \
    -object "memory-backend-file,id=region,mem-path=$region_file,size=${region_mib}M,share=on" \
    -device ivshmem-plain,memdev=region \
    -drive "file=$tmp/sample-ext4.img,if=virtio,format=raw" \
    -drive "file=$tmp/sample-btrfs.img,if=virtio,format=raw"
}
wait_for_ext4() { vm_wait_read "$tmp/scheme/ext4/home/file" "$boot_timeout"; }
t_qemu=$(date +%s.%N)
start_qemu

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ext4_text='Hello from ext4, served by Linux through redox-bridge.'
btrfs_text='Hello from btrfs, served by Linux through redox-bridge.'

# (a) Poll until the guest's schemes appear; each read is bounded so a hang cannot stall us.
echo "--- (a) the guest's exports appear under the host's FUSE mount"
wait_for_ext4
t_first=$(since "$t_qemu")
if [ "$got" = "$ext4_text" ]; then echo "ok:   cat /scheme/ext4/home/file (${t_first}s after QEMU start)"
else fail "cat /scheme/ext4/home/file gave '$got' within ${boot_timeout}s"; fi
got=""
for _ in $(seq 1 40); do
  got=$(timeout 10 cat "$tmp/scheme/btrfs/home/file" 2>/dev/null) && break
  got=""
  sleep 0.5
done
if [ "$got" = "$btrfs_text" ]; then echo "ok:   cat /scheme/btrfs/home/file"
else fail "cat /scheme/btrfs/home/file gave '$got'"; fi

echo "--- (b) 4 MiB from the guest (file data through the ivshmem shared region)"
t_big=$(date +%s.%N)
have_sha=$(timeout 120 sha256sum "$tmp/scheme/ext4/srv/random-4M.bin" 2>"$tmp/sha.err" | cut -d' ' -f1) || true
t_big=$(since "$t_big")
if [ -n "$want_sha" ] && [ "$have_sha" = "$want_sha" ]; then echo "ok:   sha256 of /scheme/ext4/srv/random-4M.bin matches (${t_big}s)"
else fail "sha256 of srv/random-4M.bin: got '$have_sha' ($(cat "$tmp/sha.err")), want '$want_sha'"; fi
if grep -q "region: $region_mib MiB shared with guest" "$tmp/host.log"; then
  echo "ok:   the guest mapped the ivshmem region: $(grep -o "region: $region_mib MiB shared with guest '[^']*'" "$tmp/host.log" | head -1)"
else fail "the hellos did not agree on the ivshmem region ($(grep -i region "$tmp/host.log" | tail -n 3))"; fi
if grep -q "file reads go through the shared region" "$tmp/host.log"; then
  echo "ok:   reads used the region: $(grep -o "export #[0-9]*: file reads go through the shared region.*" "$tmp/host.log" | head -1)"
else fail "no read went through the shared region"; fi

echo "--- (c) QEMU killed: reads in flight and new reads fail promptly"
# Freeze the guest, start a read of a file nothing has read yet (so no cache can answer it),
# then kill QEMU while that read waits on the guest.
kill -STOP "$qemu_pid"
( r=0; timeout 20 cat "$tmp/scheme/ext4/home/user/docs/note-7.txt" >/dev/null 2>"$tmp/inflight.err" || r=$?
  echo "$r" >"$tmp/inflight.rc" ) &
reader=$!
sleep 1.5
if [ -e "$tmp/inflight.rc" ]; then fail "the read did not wait for the frozen guest ($(cat "$tmp/inflight.err"))"
else echo "ok:   a read is in flight to the frozen guest"; fi
kill -KILL "$qemu_pid" 2>/dev/null || true
t_inflight=$(date +%s.%N)
wait "$reader" 2>/dev/null || true
t_inflight=$(since "$t_inflight")
inflight_rc=$(cat "$tmp/inflight.rc" 2>/dev/null || echo "?")
if [ "$inflight_rc" = 0 ] || [ "$inflight_rc" = 124 ] || [ "$inflight_rc" = "?" ]; then
  fail "the in-flight read did not fail promptly after the kill (exit $inflight_rc)"
elif grep -q "Input/output error" "$tmp/inflight.err"; then
  echo "ok:   the in-flight read failed with EIO ${t_inflight}s after the kill"
else fail "the in-flight read failed, but not with EIO: $(cat "$tmp/inflight.err")"; fi
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
t_kill=$(date +%s.%N)
rc=0
err=$(timeout 15 cat "$tmp/scheme/ext4/home/file" 2>&1 >/dev/null) || rc=$?
t_err=$(since "$t_kill")
if [ "$rc" -eq 124 ]; then fail "cat after the kill hung for 15s"
elif [ "$rc" -eq 0 ]; then fail "cat after the kill still succeeded"
else echo "ok:   cat after the kill failed in ${t_err}s: $err"; fi
if kill -0 "$host_pid" 2>/dev/null; then echo "ok:   bridge-host is still running"
else fail "bridge-host died with QEMU"; fi
if grep -q "front-end on .* gone" "$tmp/host.log"; then echo "ok:   bridge-host saw the front-end go and reset its connections"
else fail "bridge-host did not log the front-end disconnect"; fi

echo "--- (d) a new QEMU on the same socket: the schemes come back"
t_again=$(date +%s.%N)
start_qemu
wait_for_ext4
t_again=$(since "$t_again")
if [ "$got" = "$ext4_text" ]; then echo "ok:   cat /scheme/ext4/home/file through the second guest (${t_again}s)"
else fail "the second guest's ext4 scheme gave '$got' within ${boot_timeout}s"; fi
kill_qemu

echo "--- timings: image+disks ${t_image}s; QEMU start to first byte on the host ${t_first}s;" \
  "4 MiB read ${t_big}s; total $(since "$t0")s"
if [ "$failures" -gt 0 ]; then
  echo "--- $failures check(s) failed; bridge-host log follows" >&2
  tail -n 60 "$tmp/host.log" >&2
  echo "--- serial console" >&2
  tr -d '\r' <"$console" | tail -n 60 >&2
  echo "--- qemu output" >&2
  cat "$tmp/qemu.out" >&2 || true
  exit 1
fi
echo "vm vhost-user: all checks passed"
