#!/usr/bin/env bash
# Makes the sample disks with known content: DIR/sample-ext4.img (ext4, 64 MiB, made with
# mke2fs -d, no mount needed). Usage: make-sample-disks.sh DIR
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
