#!/usr/bin/env bash
# progan train end to end through the command line, on real Fashion-MNIST
# images (Debian's dataset-fashion-mnist): dry run, bad flags, training from a
# folder with SWD, info on every file kind, generate from an export, plot,
# --resume auto, and Ctrl-C leaving a checkpoint that loads.
set -u
progan=$1
tools=$(dirname "$progan")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL $name"; tail -5 "$tmp/out"; fi
}
expect_rc() { # expect_rc RC PATTERN COMMAND...
    local want=$1 pattern=$2; shift 2
    "$@" >"$tmp/out" 2>&1; local rc=$?
    [ "$rc" = "$want" ] && grep -q -- "$pattern" "$tmp/out"
}

check "fashion-mnist" "$tools/fashion_mnist_to_jpeg" "$tmp/fm" --limit 512
# no Vulkan driver, or a device that does not exist: one clear message, exit 1
check "missing driver" expect_rc 1 "mesa-vulkan-drivers" env VK_DRIVER_FILES=/nonexistent.json \
    VK_ICD_FILENAMES=/nonexistent.json "$progan" devices
check "bad device" expect_rc 1 "progan devices" "$progan" train --data "$tmp/fm" --preset tiny \
    --resolution 16 --out "$tmp/bad" --device 99
# emulation variables with bad values: one clear message naming the variable, exit 1
check "bad PROGAN_EMULATE" expect_rc 1 "PROGAN_EMULATE=bogus" env PROGAN_EMULATE=bogus "$progan" devices
check "bad PROGAN_EMULATE_GROUPS" expect_rc 1 "PROGAN_EMULATE_GROUPS=0" \
    env PROGAN_EMULATE_GROUPS=0 "$progan" devices
check "bad PROGAN_EMULATE_HEAP_MB" expect_rc 1 "PROGAN_EMULATE_HEAP_MB=1x" \
    env PROGAN_EMULATE_HEAP_MB=1x "$progan" devices
check "PROGAN_EMULATE_HEAP_MB shown" bash -c "PROGAN_EMULATE_HEAP_MB=64 '$progan' devices | grep -q 'heap=64MiB'"
common=(--preset tiny --resolution 16 --out "$tmp/runs")
check "dry run timeline" bash -c "'$progan' train --data '$tmp/fm' ${common[*]} --dry-run | grep -q fade-in"
check "unknown flag" expect_rc 2 "unknown option" "$progan" train --data "$tmp/fm" --bogus 1
check "batch vs group" expect_rc 1 "divisible" "$progan" train --data "$tmp/fm" "${common[@]}" --batch 6 --dry-run
check "resolution" expect_rc 1 "power of two" "$progan" train --data "$tmp/fm" "${common[@]}" --resolution 24 --dry-run
check "no data" expect_rc 2 "data is required" "$progan" train --preset tiny
check "train" "$progan" train --data "$tmp/fm" "${common[@]}" --metrics swd --grid 2x4
run=$(ls -d "$tmp"/runs/00000-* 2>/dev/null | head -1)
check "run folder" test -n "$run" -a -f "$run/training_options.json" -a -f "$run/reals.jpg"
check "swd rows" grep -q '"average"' "$run/metric-swd.jsonl"
check "tfevents" bash -c "ls '$run'/events.out.tfevents.* >/dev/null"
ckpt=$(ls "$run"/checkpoint-*.safetensors | tail -1)
check "info checkpoint" bash -c "'$progan' info '$ckpt' | grep -qi checkpoint"
check "info export" bash -c "'$progan' info '$run/snapshots/16x16/Gs.safetensors' | grep -q 'Gs.torgb16.weight'"
check "info dataset" bash -c "'$progan' info '$tmp/runs/cache/'*.pgd | grep -q 512"
# the folder through the same cache as train: info and metrics reuse fm-16.pgd
check "info folder json" bash -c "'$progan' info '$tmp/fm' --cache '$tmp/runs/cache' --json | python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); assert d[\"count\"] == 512, d'"
check "metrics folder" bash -c "'$progan' metrics --snapshot '$run/snapshots/16x16/Gs.safetensors' --data '$tmp/fm' --cache '$tmp/runs/cache' --metrics swd --num 64 > '$tmp/m.txt' 2>&1"
check "metrics json line" python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); assert d['metric'] == 'swd' and d['num'] == 64, d" "$tmp/m.txt"
check "cache reused" bash -c "grep -q 'prepare: reusing' '$tmp/m.txt' && test \$(ls '$tmp/runs/cache/'*.pgd | wc -l) = 1"
check "stats lines parse" python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$run/stats.jsonl"
check "generate" "$progan" generate --snapshot "$run/snapshots/16x16/Gs.safetensors" --seeds 0-3 --out "$tmp/gen"
check "generated files" test "$(ls "$tmp/gen" | wc -l)" = 4
check "plot" "$progan" plot "$run"
check "curves.svg" grep -q "<svg" "$run/curves.svg"
check "resume auto" "$progan" train --data "$tmp/fm" "${common[@]}" --resume auto --kimg 0.768
check "resumed in place" grep -q "resumed" "$run/log.txt"
check "one run folder" test "$(ls -d "$tmp"/runs/0* | wc -l)" = 1

# Ctrl-C: a checkpoint at the next block boundary, exit 130, and it loads
"$progan" train --data "$tmp/fm" --preset tiny --resolution 16 --out "$tmp/int" --kimg 1000 \
    >"$tmp/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "^tick 1 " "$tmp/int.log" && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
check "ctrl-c exit 130" test "$rc" = 130
check "ctrl-c message" grep -q "resume with --resume auto" "$tmp/int.log"
ickpt=$(ls "$tmp"/int/0*/checkpoint-*.safetensors 2>/dev/null | tail -1)
check "ctrl-c checkpoint loads" bash -c "'$progan' info '$ickpt' | grep -qi checkpoint"
check "no temporary files" bash -c "! ls '$tmp'/int/0*/*.tmp-* 2>/dev/null"

echo "cli_train: $passed passed, $failed failed"
[ "$failed" = 0 ]
