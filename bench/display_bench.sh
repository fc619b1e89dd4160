#!/usr/bin/env bash
# The display path against the native baseline, one QEMU (TCG) boot with -device bochs-display,
# side by side:
#   bridge: tools/display-demo on the host through display.bochs (bridge-host as the guest's
#     vhost-user-vsock device, pixels through the 16 MiB ivshmem region): full frames as page
#     flips (each waits for the guest's flipDone), and a 64x64 square moving as damage
#     (--rect --side 64: two 64x64 rects per update, where it was and where it is); frames/s and
#     the latency from sending the flip/damage to the host getting its completion
#   native: bench/drm_native_bench in the same guest, on the same card, after bridge-guest has
#     been stopped through the guest's test shell (it holds DRM master): the same copy_rects +
#     dirty per update that bridge-guest does, without the bridge (one rect per update)
# Medians of RUNS (each run: one demo run per workload, one native bench run). Prints a table
# with ratios bridge / native; never decides pass/fail.
#   Usage (root): bash bench/display_bench.sh [RUNS, default 3]
#   FRAMES=N   updates per full-frame run (default 60; the rect runs do 5 x N)
set -euo pipefail
runs="${1:-3}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "display_bench.sh: RUNS must be a positive integer, not '$runs'" >&2; exit 2; }
frames="${FRAMES:-60}"
bench_dir=$(cd "$(dirname "$0")" && pwd)
prog=display_bench.sh
# vm_common.sh lives in tests/vm and parses this script's arguments: hand it the build tree.
set -- --build-dir "${BRIDGE_BUILD_DIR:-$bench_dir/../build}"
# shellcheck source=tests/vm/vm_common.sh
. "$bench_dir/../tests/vm/vm_common.sh"
repo=$(cd "$bench_dir/.." && pwd)
demo="$build_dir/tools/display-demo/display-demo"
[ -x "$demo" ] || { echo "$prog: no $demo: build first (bash tools/build.sh)" >&2; exit 1; }
command -v socat >/dev/null || { echo "$prog: socat missing (tools/setup.sh installs it)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/redox-bridge-dbench.XXXXXX)
trap vm_cleanup EXIT
image="$build_dir/guest-image"
bash "$repo/image/build-guest.sh" "$image" --build-dir "$build_dir"

mkdir -p "$tmp/shm" "$tmp/display"
vm_start_host ",region=$tmp/shm/region,region-size=16" --display-dir "$tmp/display"
vm_start_qemu --testshell "console=ttyS0 panic=-1 quiet bridge.testshell=1 bridge.export=display=drm:auto" \
  -no-reboot -object "memory-backend-file,id=region,mem-path=$tmp/shm/region,size=16M,share=on" \
  -device ivshmem-plain,memdev=region -device bochs-display
sock="$tmp/display/display.bochs.sock"
deadline=$(( $(date +%s) + boot_timeout ))
while [ ! -S "$sock" ] && [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$qemu_pid" 2>/dev/null; do sleep 0.5; done
[ -S "$sock" ] || { echo "$prog: $sock did not appear within ${boot_timeout}s" >&2; tail -n 30 "$tmp/host.log" >&2; exit 1; }
guest_shell_ready 60

median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)]}'; }
# demo_run NAME ARGS...: one display-demo run; appends "fps median_ms p90_ms" to $tmp/NAME.
demo_run() {
  local name=$1 out
  shift
  out=$(timeout 600 "$demo" --socket "$sock" "$@") ||
    { echo "$prog: display-demo $* failed: $out" >&2; exit 1; }
  echo "$out" | sed 's/^/  /' >&2
  awk '/^frames:/ {fps = $(NF - 1)} /latency:/ {gsub(",", ""); med = $(NF - 4); p90 = $(NF - 1)}
       END {print fps, med, p90}' <<<"$out" >>"$tmp/$name"
}
for r in $(seq 1 "$runs"); do
  echo "--- run $r/$runs: bridge (display-demo on the host)" >&2
  demo_run full --frames "$frames"
  demo_run rect --frames $((frames * 5)) --rect --side 64
done

guest_sh 30 "sv stop bridge-guest" || { echo "$prog: could not stop bridge-guest in the guest" >&2; exit 1; }
echo "  guest: $(printf '%s' "$gsh_out" | tr -d '\r' | head -n1)" >&2
for r in $(seq 1 "$runs"); do
  echo "--- run $r/$runs: native (drm_native_bench in the guest)" >&2
  guest_sh 600 "drm_native_bench --card auto --updates $frames 2>&1" ||
    { echo "$prog: drm_native_bench failed: $gsh_out" >&2; exit 1; }
  json=$(printf '%s' "$gsh_out" | tr -d '\r' | grep '^{"bench":"drm_native"' ) ||
    { echo "$prog: no result from drm_native_bench: $gsh_out" >&2; exit 1; }
  printf '%s' "$gsh_out" | tr -d '\r' | grep -v '^{' | sed 's/^/  /' >&2
  python3 - "$json" "$tmp" <<'EOF'
import json, sys
j = json.loads(sys.argv[1])
for key, name in (("full", "nfull"), ("rect64", "nrect")):
    with open(f"{sys.argv[2]}/{name}", "a") as f:
        f.write(f"{j[key]['per_s']} {j[key]['median_us'] / 1000} {j[key]['p90_us'] / 1000}\n")
EOF
done

col() { awk -v c="$2" '{print $c}' "$tmp/$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
echo
echo "display.bochs, QEMU TCG, 1 vCPU; medians of $runs run(s); bridge: display-demo on the host,"
echo "native: drm_native_bench in the guest (same card, bridge-guest stopped)"
printf '%-22s %12s %12s %8s\n' "" bridge native "ratio"
for w in full rect; do
  label="full frame"
  [ "$w" = rect ] && label="64x64 rect"
  for c in 1 2 3; do
    b=$(col "$w" "$c")
    n=$(col "n$w" "$c")
    case $c in
      1) what="$label updates/s" ;;
      2) what="$label median ms" ;;
      3) what="$label p90 ms" ;;
    esac
    printf '%-22s %12.3f %12.3f %8s\n' "$what" "$b" "$n" "$(ratio "$b" "$n")"
  done
done
echo "(ratio = bridge / native: below 1 for updates/s and above 1 for latency is the bridge's cost)"
