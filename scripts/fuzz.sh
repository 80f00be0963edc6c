#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/fuzz_*.c, clang-14 with ASan+UBSan) in
# build-san/ and runs each for SECONDS_PER_HARNESS (default 10) on its seed
# corpus fuzz/corpus/<name>/ plus a scratch corpus (build-san/corpus/<name>/),
# one after the other. Crash inputs land in build-san/crashes/<name>/; the
# script exits nonzero when any harness fails. Prints one summary line per
# harness: executions, coverage (edges), features, crashes.
#   scripts/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS...]
# PROGAN_FUZZ_SKIP_OK=1 (ctest): exit 77 (skipped) instead of 1 when clang-14
# or libFuzzer is missing; scripts/setup.sh installs both. PROGAN_FUZZ_NO_BUILD=1:
# the harnesses are already built (the ctest fixture did it).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
cc=$(command -v clang-14 || command -v clang || true)
fuzzer_lib=$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null | head -1)
if [ -z "$cc" ] || [ -z "$fuzzer_lib" ]; then
    echo "fuzz: SKIPPED: clang-14 or libFuzzer (libclang-rt-14-dev) is not installed; run scripts/setup.sh" >&2
    [ "${PROGAN_FUZZ_SKIP_OK:-0}" = 1 ] && exit 77 || exit 1
fi
if [ "${PROGAN_FUZZ_NO_BUILD:-0}" != 1 ]; then
    bash scripts/sanitize.sh --build-only fuzzers || exit 1
fi
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(safetensors dataset image options cli)
status=0
for h in "${harnesses[@]}"; do
    mkdir -p "build-san/corpus/$h" "build-san/crashes/$h"
    log=build-san/fuzz_$h.log
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
        "build-san/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="build-san/crashes/$h/" -print_final_stats=1 \
        "build-san/corpus/$h" "fuzz/corpus/$h" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
    ft=$(grep -E '^#[0-9]+.*ft: ' "$log" | tail -1 | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
    crashes=$(ls "build-san/crashes/$h" | wc -l)
    echo "fuzz_$h: ${seconds}s executions ${execs:-?} coverage ${cov:-?} edges features ${ft:-?} crashes $crashes rc $rc"
    if [ $rc -ne 0 ]; then
        status=1
        grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' "$log" | head -15
    fi
done
exit $status
