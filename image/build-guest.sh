#!/usr/bin/env bash
# Builds the guest VM from Debian packages: OUTDIR/bzImage (the Debian kernel) and
# OUTDIR/initramfs.cpio.gz (busybox, runit, the kernel modules the guest needs, bridge-guest,
# bridge-host and bridgectl with their shared libraries, a tiny /init that hands over to runsvdir,
# /sbin/bridge-reboot for a clean reboot or power-off).
#
#   bash image/build-guest.sh OUTDIR [--build-dir DIR]
#
#   --build-dir DIR   the CMake build tree holding the daemons (default: $BRIDGE_BUILD_DIR, else
#                     <repo>/build)
#   BRIDGE_GUEST_KERNEL=linux-image-6.1.0-NN-amd64   pin the kernel package (default: what
#                     linux-image-amd64 depends on)
#
# Debian packages are unpacked once into OUTDIR/cache, in directories named after the package
# version, so a re-run with a warm cache only re-packs the initramfs (seconds) and a new package
# version gets a new directory. Run as root on Debian bookworm (it may apt-get install cpio and
# qemu-system-x86).
set -euo pipefail

prog=build-guest.sh
die() { echo "$prog: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

out=""
build_dir="${BRIDGE_BUILD_DIR:-$repo/build}"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"; build_dir="$2"; shift 2 ;;
    --build-dir=*) build_dir="${1#--build-dir=}"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$out" ] || die "one OUTDIR only ('$out' and '$1')"; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || die "usage: build-guest.sh OUTDIR [--build-dir DIR]"

# The daemons come from the build tree; check them first, it is the most common miss.
bins=(
  "$build_dir/bridge-guest/bridge-guest"
  "$build_dir/bridge-host/bridge-host"
  "$build_dir/tools/bridgectl/bridgectl"
  # The display self-test (tests/vm/vm_drm_engine.sh) and the native display baseline.
  "$build_dir/bridge-guest/engines/drm/drm_selftest"
  "$build_dir/bench/drm_native_bench"
)
for b in "${bins[@]}"; do
  [ -x "$b" ] || die "no $(basename "$b") at $b: build first (bash tools/build.sh) or pass --build-dir DIR"
done

# Host tools. Only cpio and qemu are installed; busybox and runit are never installed on the
# host, their .debs are unpacked into the cache (the guest gets Debian's binaries, the host
# stays untouched).
need=()
command -v cpio >/dev/null || need+=(cpio)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
for t in apt-get apt-cache dpkg-deb ldd gzip strip; do
  command -v "$t" >/dev/null || die "$t missing: this script needs Debian's apt, dpkg, libc-bin, gzip, binutils"
done
apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed: check the network and /etc/apt/sources.list"
  apt_updated=1
}
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "${need[*]} missing: run as root or apt-get install ${need[*]}"
  note "installing ${need[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    die "apt-get install ${need[*]} failed: run it by hand to see why"
fi

# Candidate version of a package, or empty. Retries once after apt-get update (fresh machines
# have no package lists).
candidate() {
  local v
  v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$v" ] || [ "$v" = "(none)" ]; then
    apt_update
    v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  fi
  [ "$v" = "(none)" ] && v=""
  echo "$v"
}

kernel_pkg="${BRIDGE_GUEST_KERNEL:-}"
if [ -z "$kernel_pkg" ]; then
  [ -n "$(candidate linux-image-amd64)" ] ||
    die "no linux-image-amd64 in apt's lists: add Debian bookworm main to /etc/apt/sources.list and run apt-get update"
  kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$kernel_pkg" ] || die "cannot tell which kernel linux-image-amd64 depends on: set BRIDGE_GUEST_KERNEL=linux-image-VERSION-amd64"
fi
kernel_ver=$(candidate "$kernel_pkg")
[ -n "$kernel_ver" ] || die "kernel package $kernel_pkg not known to apt: apt-get update, or set BRIDGE_GUEST_KERNEL to one 'apt-cache search linux-image-' lists"
kver=${kernel_pkg#linux-image-}   # the module directory name, e.g. 6.1.0-56-amd64
busybox_ver=$(candidate busybox-static)
runit_ver=$(candidate runit)
[ -n "$busybox_ver" ] || die "busybox-static not known to apt: apt-get update"
[ -n "$runit_ver" ] || die "runit not known to apt: apt-get update"

mkdir -p "$out/cache"
out=$(cd "$out" && pwd)
cache="$out/cache"
tmp=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Downloads PKG=VERSION into $tmp and unpacks it into DIR.
unpack() {
  local pkg="$1" ver="$2" dir="$3"
  (cd "$tmp" && apt-get download -qq "$pkg=$ver" >/dev/null 2>"$tmp/apt.err") || {
    apt_update
    (cd "$tmp" && apt-get download -qq "$pkg=$ver" >/dev/null 2>"$tmp/apt.err") ||
      die "apt-get download $pkg=$ver failed ($(tail -n1 "$tmp/apt.err")): check the network and apt sources"
  }
  rm -rf "$dir"
  dpkg-deb -x "$tmp/${pkg}_"*.deb "$dir"
  rm -f "$tmp/${pkg}_"*.deb
}

# Cache directories are named by package version (':' of epochs made filename-safe).
safe() { echo "$1" | tr ':/' '__'; }

# --- busybox and runit: only the binaries the guest runs ---------------------------------------
bb_dir="$cache/busybox-static_$(safe "$busybox_ver")"
if [ ! -x "$bb_dir/busybox" ]; then
  note "unpacking busybox-static $busybox_ver"
  unpack busybox-static "$busybox_ver" "$tmp/bb"
  mkdir -p "$bb_dir.new" && cp "$tmp/bb/bin/busybox" "$bb_dir.new/" && rm -rf "$bb_dir" && mv "$bb_dir.new" "$bb_dir"
fi
busybox="$bb_dir/busybox"

runit_tools=(runsvdir runsv sv svlogd chpst)
rn_dir="$cache/runit_$(safe "$runit_ver")"
if [ ! -x "$rn_dir/svlogd" ]; then
  note "unpacking runit $runit_ver"
  unpack runit "$runit_ver" "$tmp/rn"
  mkdir -p "$rn_dir.new"
  for t in "${runit_tools[@]}"; do cp "$tmp/rn/usr/bin/$t" "$rn_dir.new/"; done
  rm -rf "$rn_dir" && mv "$rn_dir.new" "$rn_dir"
fi

# --- kernel and the modules the guest needs ---------------------------------------------------
# Wanted: virtio PCI transport and block disks, the vsock stack (the virtio transport for the
# host link, loopback for CID 1 tests), ext4, btrfs, virtio_console (hvc0: the test shell of
# image/guest/sv/testshell), and the DRM drivers of QEMU's displays (bochs: -device
# bochs-display / -vga std; virtio_gpu: virtio-gpu-pci; drm, drm_kms_helper and the helpers
# come in as their dependencies). Their dependencies come from modules.dep
# (made by busybox depmod from the unpacked package, which ships none); soft dependencies
# (crypto algorithms such as crc32c, which modules.dep cannot name) from each module's
# softdep= tag resolved through modules.alias.
wanted_modules=(virtio_pci virtio_blk vsock vmw_vsock_virtio_transport vsock_loopback ext4 btrfs
                virtio_console bochs virtio_gpu)
k_key="$kernel_pkg $kernel_ver ${wanted_modules[*]}"
k_dir="$cache/${kernel_pkg}_$(safe "$kernel_ver")"
if [ ! -f "$k_dir/key" ] || [ "$(cat "$k_dir/key")" != "$k_key" ]; then
  note "unpacking $kernel_pkg $kernel_ver (about 70 MB) and resolving modules"
  unpack "$kernel_pkg" "$kernel_ver" "$tmp/k"
  mroot="$tmp/k/lib/modules/$kver"
  [ -d "$mroot" ] || die "$kernel_pkg has no lib/modules/$kver: set BRIDGE_GUEST_KERNEL to a linux-image-*-amd64 package"
  "$busybox" depmod -b "$tmp/k" "$kver"
  [ -s "$mroot/modules.dep" ] || die "depmod made no modules.dep for $kver"

  declare -A path_of=() deps_of=() done_mod=()
  while IFS= read -r line; do
    p=${line%%:*}
    n=$(basename "$p"); n=${n%%.ko*}; n=${n//-/_}
    path_of[$n]=$p
    deps_of[$p]=${line#*:}
  done <"$mroot/modules.dep"

  builtin_aliases=$(tr '\0' '\n' <"$mroot/modules.builtin.modinfo" | sed -n 's/^[^.]*\.alias=//p')
  # Names a softdep may use: a module name, or an exact (non-wildcard) alias.
  resolve_soft() {
    local s=${1//-/_}
    if [ -n "${path_of[$s]:-}" ]; then echo "$s"; return; fi
    if grep -qxF -- "$1" <<<"$builtin_aliases"; then return; fi  # built into the kernel
    awk -v a="$1" '$1 == "alias" && $2 == a {print $3}' "$mroot/modules.alias" | tr '-' '_'
  }
  order=()
  # Depth-first: soft pre-deps and hard deps before the module itself.
  visit() {
    local n=$1 kind=$2 p d s
    p=${path_of[$n]:-}
    [ -n "$p" ] || die "module $n is not in $kernel_pkg"
    [ -n "${done_mod[$p]:-}" ] && return
    done_mod[$p]=1
    for s in $(strings -n 8 "$mroot/$p" | sed -n 's/^softdep=pre: *//p'); do
      for d in $(resolve_soft "$s"); do visit "$d" optional; done
    done
    for d in ${deps_of[$p]}; do
      d=$(basename "$d"); d=${d%%.ko*}; visit "${d//-/_}" "$kind"
    done
    order+=("$p $kind")
  }
  for m in "${wanted_modules[@]}"; do visit "$m" required; done

  rm -rf "$k_dir.new"
  mkdir -p "$k_dir.new/modules"
  cp "$tmp/k/boot/vmlinuz-$kver" "$k_dir.new/bzImage"
  for e in "${order[@]}"; do
    p=${e%% *}
    mkdir -p "$k_dir.new/modules/$(dirname "$p")"
    cp "$mroot/$p" "$k_dir.new/modules/$p"
    # Debian 6.1 ships plain .ko; compressed ones would need busybox's unxz/zstd first.
    case "$p" in *.ko) ;; *) die "module $p is compressed; the guest's insmod wants plain .ko" ;; esac
    grep -E "^$p:" "$mroot/modules.dep" >>"$k_dir.new/modules/modules.dep"
  done
  printf '%s\n' "${order[@]}" >"$k_dir.new/modules.load"
  echo "$k_key" >"$k_dir.new/key"
  rm -rf "$k_dir" "$tmp/k" && mv "$k_dir.new" "$k_dir"
fi

# --- the initramfs -----------------------------------------------------------------------------
# Re-packed when any input changed (the daemons change with every build); the key is a hash of
# the inputs, so a warm re-run with the same build is a no-op.
inputs=("${bins[@]}" "$here/guest/init" "$here/guest/guest.conf" "$here/guest/bridge-reboot" "$k_dir/key"
        "$busybox")
while IFS= read -r f; do inputs+=("$f"); done < <(find "$repo/runit" "$here/guest/sv" -type f | sort)
mapfile -t libs < <(for b in "${bins[@]}" "$rn_dir"/*; do ldd "$b"; done |
  awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | sort -u)
[ ${#libs[@]} -gt 0 ] || die "ldd found no libraries for ${bins[*]}: are they dynamically linked x86-64 binaries?"
key=$( (echo "$kernel_pkg $kernel_ver $busybox_ver $runit_ver"; sha256sum "${inputs[@]}" "${libs[@]}" "$rn_dir"/*) | sha256sum | cut -d' ' -f1)
if [ -f "$out/initramfs.key" ] && [ "$(cat "$out/initramfs.key")" = "$key" ] &&
   [ -f "$out/initramfs.cpio.gz" ] && [ -f "$out/bzImage" ]; then
  note "up to date: $out/bzImage $out/initramfs.cpio.gz"
  exit 0
fi

root="$tmp/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,var/log,root,lib64,lib/x86_64-linux-gnu,usr/bin,usr/sbin}
cp "$busybox" "$root/bin/busybox"
# Every applet as a symlink, so scripts and posix_spawnp find sh, mount, insmod ... on PATH.
for a in $("$busybox" --list); do
  [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done
for t in "${runit_tools[@]}"; do cp "$rn_dir/$t" "$root/usr/bin/$t"; done
# The daemons without debug info: ~30 MB each with it, and the guest never debugs.
for b in "${bins[@]}"; do
  strip --strip-unneeded -o "$root/usr/bin/$(basename "$b")" "$b"
done
for l in "${libs[@]}"; do
  case "$l" in
    */ld-linux-x86-64.so.2) cp -L "$l" "$root/lib64/ld-linux-x86-64.so.2" ;;
    *) cp -L "$l" "$root/lib/x86_64-linux-gnu/$(basename "$l")" ;;
  esac
done
strip --strip-unneeded "$root"/lib/x86_64-linux-gnu/*.so* 2>/dev/null || true

mkdir -p "$root/lib/modules/$kver"
cp -r "$k_dir/modules/." "$root/lib/modules/$kver/"
cp "$k_dir/modules.load" "$root/etc/modules.load"
echo "$kver" >"$root/etc/kernel-release"

install -m 0755 "$here/guest/init" "$root/init"
install -m 0755 "$here/guest/bridge-reboot" "$root/sbin/bridge-reboot"
mkdir -p "$root/etc/redox-bridge" "$root/etc/sv" "$root/etc/service"
install -m 0644 "$here/guest/guest.conf" "$root/etc/redox-bridge/guest.conf"
# Service definitions live in /etc/sv; /etc/service holds the enabled ones (init enables the
# test-only services when the kernel command line asks for them).
cp -r "$repo/runit/." "$here/guest/sv/." "$root/etc/sv/"
chmod -R a+rX "$root/etc/sv"
find "$root/etc/sv" -type f \( -name run -o -name finish \) -exec chmod 0755 {} +
ln -s /etc/sv/bridge-guest "$root/etc/service/bridge-guest"
# runsv keeps its state in DIR/supervise; the initramfs is writable (rootfs), so in place.
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '%s\n' "kernel $kernel_pkg $kernel_ver" "busybox-static $busybox_ver" "runit $runit_ver" \
  >"$root/etc/redox-bridge/image-manifest"

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet) |
  gzip -6 -n >"$tmp/initramfs.cpio.gz"
cp "$k_dir/bzImage" "$tmp/bzImage"
mv "$tmp/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
mv "$tmp/bzImage" "$out/bzImage"
cp "$root/etc/redox-bridge/image-manifest" "$out/manifest"
echo "$key" >"$out/initramfs.key"
note "built $out/bzImage ($kernel_pkg $kernel_ver) and $out/initramfs.cpio.gz ($(du -h "$out/initramfs.cpio.gz" | cut -f1))"
