#!/usr/bin/env bash
# The GPU benchmark anyone with a Vulkan GPU can run (README: "Benchmark your GPU").
# It prints `progan devices`, runs the op tests on the GPU under the validation
# layer (every conv/matmul kernel variant against float64), then bench_ops at
# the paper network's shapes and bench_step at (4,128) (32,64) (256,8)
# (1024,4), writing every JSON line to one file. About 5 minutes on an
# H100-class GPU; each stage has a time limit, all within an 8-minute budget
# (BUDGET_S, default 470 s, counted after the build).
#
# usage: scripts/gpu-bench.sh [--build DIR] [--out FILE] [--device N]
#        [--skip-tests] [--allow-cpu] [--smoke] [--peak-gflops X --peak-gbps Y]
#   --build DIR   a build folder made elsewhere (default: build/, built here if absent)
#   --out FILE    JSON lines (default: gpu-bench-<host>-<date>.jsonl)
#   --device N    the `progan devices` index (default: the first discrete GPU)
#   --allow-cpu   run even when the chosen device is a CPU (lavapipe)
#   --smoke       tiny sizes (checks the script itself, e.g. on lavapipe)
#   --peak-*      the device's FP32 peak for the roofline fields (known GPUs:
#                 H100, H200, A100, L40S, RTX 4090 are looked up by name)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build" out="" device="" skip_tests=0 allow_cpu=0 smoke=0 peak=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$(cd "$2" && pwd) || { echo "gpu-bench: no build folder $2" >&2; exit 2; }; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --skip-tests) skip_tests=1; shift ;;
    --allow-cpu) allow_cpu=1; shift ;;
    --smoke) smoke=1; shift ;;
    --peak-gflops | --peak-gbps) peak+=("$1" "$2"); shift 2 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || out="gpu-bench-$(hostname -s)-$(date +%Y%m%d-%H%M%S).jsonl"
[ -n "$device" ] && export PROGAN_DEVICE=$device

if [ ! -x "$build/progan" ]; then
    echo "gpu-bench: building in $build (pass --build DIR to use a build made elsewhere)"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j"$(nproc)" >/dev/null
fi
for bin in progan test_ops test_conv_variants bench_ops bench_step; do
    [ -x "$build/$bin" ] || { echo "gpu-bench: $build/$bin is missing: build the project there first" >&2; exit 1; }
done

# Runs a stage under a time limit; a stage that fails or times out is reported
# in the JSON file and the script goes on (one bad stage must not hide the rest).
stage() {
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS rc=0 left=$((deadline - SECONDS))
    # --smoke checks the script, not a GPU's speed: no time limits there
    [ "$smoke" -eq 1 ] && limit=3600 left=3600
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 5 ]; then
        printf '{"bench":"stage","stage":"%s","skipped":"out of the time budget"}\n' "$name" >>"$out"
        echo "gpu-bench: no time left for $name" >&2
        return 0
    fi
    echo "== $name (limit ${limit}s)" >&2
    timeout "$limit" "$@" || rc=$?
    printf '{"bench":"stage","stage":"%s","rc":%d,"seconds":%d}\n' "$name" "$rc" $((SECONDS - t0)) >>"$out"
    [ "$rc" -eq 0 ] || echo "gpu-bench: stage $name failed (exit $rc)" >&2
    return 0
}

deadline=$((SECONDS + ${BUDGET_S:-470}))
echo "== progan devices" >&2
devs=$("$build/progan" devices) || { echo "gpu-bench: progan devices failed" >&2; exit 1; }
echo "$devs" >&2
idx=$(sed -n 's/^default: \[\([0-9]*\)\].*/\1/p' <<<"$devs")
dtype=$(awk -v i="[$idx]" '$1 == i { f = 1; next } /^\[/ { f = 0 } f && $1 == "type" { print $2; exit }' <<<"$devs")
if [ "$dtype" = "CPU" ] && [ "$allow_cpu" -eq 0 ]; then
    echo "gpu-bench: device [$idx] is a CPU (lavapipe); this benchmark is for GPUs: pick one with --device N, or --allow-cpu (--smoke for tiny sizes)" >&2
    exit 1
fi
printf '{"bench":"meta","commit":"%s","date":"%s","host":"%s","smoke":%d,"device_index":"%s","device_type":"%s"}\n' \
    "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(date -u +%FT%TZ)" \
    "$(hostname -s)" "$smoke" "$idx" "$dtype" >"$out"

if [ "$skip_tests" -eq 0 ]; then
    # the float64 references run on the CPU: these take about as long anywhere
    stage test_ops 150 env PROGAN_VALIDATION=1 "$build/test_ops"
    stage test_conv_variants 120 env PROGAN_VALIDATION=1 "$build/test_conv_variants"
fi

if [ "$smoke" -eq 1 ]; then
    ops_args=(--max-res 4 --batch 2 --reps 1) rows="4:2" step_reps=1
else
    ops_args=(--reps 10) rows="4:128 32:64 256:8 1024:4" step_reps=5
fi
stage bench_ops 120 bash -c '"$@" >>"'"$out"'"' _ "$build/bench_ops" "${ops_args[@]}" ${peak[@]+"${peak[@]}"}
for row in $rows; do
    res=${row%:*} batch=${row#*:}
    stage "bench_step_${res}_${batch}" 50 bash -c '"$@" >>"'"$out"'"' _ \
        "$build/bench_step" --res "$res" --batch "$batch" --reps "$step_reps" ${peak[@]+"${peak[@]}"}
    # the per-op split of the same phase (a timestamp around every kernel)
    stage "bench_step_profile_${res}_${batch}" 30 bash -c '"$@" >>"'"$out"'" 2>/dev/null' _ \
        env PROGAN_PROFILE=1 "$build/bench_step" --res "$res" --batch "$batch" --reps 1
done
echo "gpu-bench: JSON lines in $out" >&2
