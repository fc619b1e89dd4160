#!/usr/bin/env bash
# Makes the sample disks with known content: DIR/sample-ext4.img (ext4, 64 MiB, made with
# mke2fs -d, no mount needed) and DIR/sample-btrfs.img (btrfs, 128 MiB sparse, made with
# mkfs.btrfs --rootdir, no mount needed; the same tree except /home/file, which names btrfs so
# a reader can tell the disks apart). Usage: make-sample-disks.sh DIR
set -euo pipefail
out="${1:?usage: make-sample-disks.sh DIR}"
mkdir -p "$out"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT

mkdir -p "$tree/home/user/docs" "$tree/etc" "$tree/srv"
printf 'Hello from ext4, served by Linux through redox-bridge.\n' > "$tree/home/file"
printf 'hostname=fsvm\n' > "$tree/etc/bridge.conf"
for i in $(seq 1 20); do printf 'note %d\n' "$i" > "$tree/home/user/docs/note-$i.txt"; done
ln -s /home/file "$tree/home/user/link-to-file"
head -c 4194304 /dev/urandom > "$tree/srv/random-4M.bin"

img="$out/sample-ext4.img"
rm -f "$img"
mke2fs -q -t ext4 -L sample -d "$tree" -F "$img" 64M
echo "made $img"

# btrfs after ext4, from the same tree, so the ext4 image above stays as it always was.
printf 'Hello from btrfs, served by Linux through redox-bridge.\n' > "$tree/home/file"
img="$out/sample-btrfs.img"
rm -f "$img"
# 128 MiB: mkfs.btrfs refuses images below ~114 MiB with its default profiles.
truncate -s 128M "$img"
mkfs.btrfs -q -L sample -r "$tree" "$img" >/dev/null
echo "made $img"
