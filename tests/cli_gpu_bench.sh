#!/usr/bin/env bash
# scripts/gpu-bench.sh end to end with tiny sizes on whatever device ctest has
# (lavapipe here): it refuses a CPU device unless told, takes a build folder
# made elsewhere, and writes JSON lines with every stage passing, validated
# kernels and the roofline fields. usage: cli_gpu_bench.sh PROGAN_BIN SOURCE_DIR
set -u
bin=$1 src=$2 build=$(cd "$(dirname "$1")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

type=$("$bin" devices | awk '$1 == "type" { print $2; exit }')
if [ "$type" = "CPU" ]; then
    "$src/scripts/gpu-bench.sh" --build "$build" --out "$tmp/refused.jsonl" >"$tmp/refused.log" 2>&1
    check "a CPU device is refused without --allow-cpu" '[ $? -ne 0 ] && grep -q "is a CPU" "$tmp/refused.log"'
fi
(cd "$tmp" && "$src/scripts/gpu-bench.sh" --build "$build" --allow-cpu --smoke --skip-tests \
    --peak-gflops 75 --peak-gbps 20 --out "$tmp/out.jsonl") >"$tmp/run.log" 2>&1
check "gpu-bench exits 0" '[ $? -eq 0 ]'
out=$tmp/out.jsonl
check "a meta line" 'grep -q "\"bench\":\"meta\"" "$out"'
check "every stage passed" '[ "$(grep -c "\"bench\":\"stage\"" "$out")" -ge 3 ] && ! grep "\"bench\":\"stage\"" "$out" | grep -qv "\"rc\":0"'
check "5 validated bench_ops lines with frac_peak" '[ "$(grep "\"op\":" "$out" | grep "\"valid\":true" | grep -c "\"frac_peak\":")" -eq 5 ]'
check "a step line with a roofline prediction" 'grep "\"bench\":\"step\"" "$out" | grep -q "\"roofline_step_ms\":[0-9]"'
check "measured per-op lines (profiled)" 'grep "\"bench\":\"step_op\"" "$out" | grep -q "\"ms\":"'
check "every line is JSON" '/usr/bin/python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$out"'
[ "$fail" -eq 0 ] || { echo "--- gpu-bench log"; cat "$tmp/run.log"; }
exit $fail
