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
