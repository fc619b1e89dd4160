#!/usr/bin/env bash
# Installs everything redox-bridge needs to build, test and benchmark, from Debian packages.
# Idempotent; run as root on Debian bookworm.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it uses apt-get)" >&2
  exit 1
fi

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format
  # the chosen dependencies
  capnproto libcapnp-dev libboost-dev libspdlog-dev libfmt-dev
  libfuse3-dev fuse3 libext2fs-dev e2fsprogs libbtrfsutil-dev btrfs-progs libdrm-dev
  libgtest-dev libgmock-dev googletest
  # peers the benchmarks compare against
  fuse2fs
  # tests
  util-linux coreutils procps
  # the guest VM image and its QEMU tests (socat: tests/vm/vm_e2e.sh talks to the guest's
  # test shell; python3: the display tests talk QMP and read screendumps)
  qemu-system-x86 cpio socat python3
)

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# FUSE needs its device node; containers sometimes lack the module loaded.
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
echo "setup.sh: all dependencies present"
