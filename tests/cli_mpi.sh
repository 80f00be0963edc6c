#!/usr/bin/env bash
# Data parallelism under Open MPI with 2 ranks of lavapipe on one machine, and
# micro-batches (issue 12): 2 ranks x 8 equal one process at 16 (groups kept
# whole); replicas stay identical (every tick compares parameter hashes; a
# difference fails the run); a stopped and resumed 2-rank run equals the
# straight one bitwise; a 2-rank checkpoint resumes in one process; killing a
# rank ends the other within seconds with a message naming it; a rank whose
# device fails stops both with one message; --micro-batch 2 equals 1, and
# bitwise so with lean plans (PROGAN_LEAN=1);
# --micro-batch auto under an emulated small heap splits and trains, and plans
# the paper network up to 1024x1024 within 2 GiB.
set -u
progan=$1
src=$2
tools=$(dirname "$progan")
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL $name"; tail -5 "$tmp/out"; fi
}
# CI runs as root with no stdin on 2 cores: Open MPI needs to be told all three
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np 2 --oversubscribe)
last() { ls "$1"/0*/checkpoint-*.safetensors | tail -1; }
diff_ckpt() { python3 "$src/tests/checkpoint_diff.py" "$(last "$tmp/$1")" "$(last "$tmp/$2")" "${@:3}"; }

check "fashion-mnist" "$tools/fashion_mnist_to_jpeg" "$tmp/fm" --limit 256
check "prepare" "$progan" prepare "$tmp/fm" "$tmp/fm.pgd" --resolution 16
# 4x4 stable for 4 iterations, the 8x8 fade-in from iteration 4 to 12
common=(--data "$tmp/fm.pgd" --preset tiny --resolution 16 --batch 16 --phase-kimg 0.064,0.128)

check "one process" "$progan" train "${common[@]}" --out "$tmp/one" --stop-after 12
check "two ranks" "${mpi[@]}" "$progan" train "${common[@]}" --out "$tmp/two" --stop-after 12 </dev/null
check "tick line: ranks and global batch" grep -q "batch 16 (2 ranks x 8)" "$tmp"/two/0*/log.txt
check "one run folder, one log" test "$(ls -d "$tmp"/two/0* | wc -l)" = 1 -a \
    "$(grep -c '^tick 1 ' "$tmp"/two/0*/log.txt)" = 1
check "replicas identical at the end" grep -q "replicas identical: the 2 ranks" "$tmp"/two/0*/log.txt
check "2 ranks x 8 = 1 process x 16" diff_ckpt one two --tol 2e-5

# stop at 8, resume to 12: bitwise the straight 2-rank run; and in one process
check "two ranks to 8" "${mpi[@]}" "$progan" train "${common[@]}" --out "$tmp/res" --stop-after 8 </dev/null
cp -r "$tmp/res" "$tmp/res1"
check "resume on 2 ranks" "${mpi[@]}" "$progan" train "${common[@]}" --out "$tmp/res" --resume auto \
    --stop-after 12 </dev/null
check "resumed = straight, bitwise" diff_ckpt two res --bitwise
check "resume in one process" "$progan" train "${common[@]}" --out "$tmp/res1" --resume auto --stop-after 12
check "the log says what changed" grep -q "resuming on 1 rank(s); the checkpoint was written by 2" \
    "$tmp"/res1/0*/log.txt
check "1 process after 2 ranks = 1 process" diff_ckpt one res1 --tol 2e-5

check "micro-batch 2" "$progan" train "${common[@]}" --out "$tmp/micro" --stop-after 12 --micro-batch 2
check "micro-batch 2 = 1" diff_ckpt one micro --tol 2e-5
# the updates' gradient norm (over the shared buffer's ranges, gaps zeroed) = one process's
grad_norms() { python3 -c 'import json, sys
runs = [[json.loads(l) for l in open(f)][-1] for f in sys.argv[1:]]
a, b = ([r["Grad/%s/norm" % n]["mean"] for n in "DG"] for r in runs)
print(a, b)
sys.exit(any(abs(x - y) > 1e-4 * abs(x) for x, y in zip(a, b)))' \
    "$tmp"/$1/0*/stats.jsonl "$tmp"/$2/0*/stats.jsonl; }
check "micro-batch 2: gradient norms = 1" grad_norms one micro
# lean plans (kernels ordered to keep few bytes alive, one arena for all plans)
check "micro-batch 2, lean plans" env PROGAN_LEAN=1 "$progan" train "${common[@]}" --out "$tmp/lean" \
    --stop-after 12 --micro-batch 2
check "lean plans used" grep -q "8x8: lean steps of 8 sharing one arena" "$tmp"/lean/0*/log.txt
check "lean plans = default plans, bitwise" diff_ckpt micro lean --bitwise

# a small heap: auto splits the 16x16 phases and trains
check "auto under 1 MiB" env PROGAN_EMULATE_HEAP_MB=1 "$progan" train "${common[@]}" --out "$tmp/auto" \
    --micro-batch auto --kimg 0.4
check "auto split" grep -q "16x16 stable: 2 micro-batch(es) of 8" "$tmp"/auto/0*/log.txt
# the paper network up to 1024x1024 in 2 GiB (planned, not run: lean plans at 512 and 1024)
check "paper in 2 GiB" bash -c "PROGAN_EMULATE_HEAP_MB=2048 '$progan' train --preset paper \
    --micro-batch auto --dry-run > '$tmp/paper.txt' 2>&1"
check "paper in 2 GiB: 128x128" grep -q '128x128 stable: 8 micro-batch' "$tmp/paper.txt"
check "paper in 2 GiB: 1024x1024" grep -q '1024x1024 fade-in: 3 micro-batch(es) of 1 (lean' \
    "$tmp/paper.txt"

# a rank whose device cannot be created: both exit 1, one message naming it
mpirun --oversubscribe -np 1 "$progan" train "${common[@]}" --out "$tmp/dev" : -np 1 env PROGAN_DEVICE=99 \
    "$progan" train "${common[@]}" --out "$tmp/dev" >"$tmp/dev.log" 2>&1 </dev/null
rc=$?
check "device failure exits 1" test "$rc" != 0
check "one message names rank 1" test "$(grep -c 'rank 1 on .* failed' "$tmp/dev.log")" = 1

# kill -9 one rank mid-run: the other ends within seconds, naming it. Once as
# mpirun runs by default (it stops the others itself), once with mpirun told
# not to, so that the surviving rank's own watch must notice.
kill_rank() { # kill_rank NAME PATTERN MPIRUN-OPTIONS...
    local name=$1 pattern=$2; shift 2
    "${mpi[@]}" "$@" "$progan" train "${common[@]}" --out "$tmp/$name" --kimg 1000 \
        >"$tmp/$name.log" 2>&1 </dev/null &
    local launcher=$! victim= rc
    for _ in $(seq 1 900); do grep -q "^tick 2 " "$tmp/$name.log" && break; sleep 0.1; done
    for d in /proc/[0-9]*; do
        [ "$(cut -d' ' -f4 "$d/stat" 2>/dev/null)" = "$launcher" ] || continue
        tr '\0' '\n' <"$d/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=${d#/proc/}
    done
    check "$name: found rank 1" test -n "$victim"
    [ -n "$victim" ] && kill -9 "$victim"
    # the survivor notices at its next wait, after the step it is in: allow
    # 120 s (a step of this tiny run takes well under a second on a quiet
    # machine, but CI runs test_train_1024 beside this test); a hang is killed
    local ended=0
    for _ in $(seq 1 1200); do kill -0 $launcher 2>/dev/null || { ended=1; break; }; sleep 0.1; done
    [ $ended = 0 ] && kill -9 $launcher
    wait $launcher
    rc=$?
    check "$name: exit non-zero" test "$rc" != 0
    check "$name: ends by itself" test $ended = 1
    check "$name: message names rank 1" grep -Eq "$pattern" "$tmp/$name.log"
    check "$name: last checkpoint loads" bash -c "'$progan' info '$(last "$tmp/$name")' | grep -qi checkpoint"
}
# ours ("rank 1 on HOST ... died") when rank 0 is waiting for it, else mpirun's
kill_rank kill "rank 1 (on|with PID .* on node) "
kill_rank kill-watch "rank 0 on .*: rank 1 on .* died while this rank waited" \
    --mca orte_abort_on_non_zero_status 0

echo "cli_mpi: $passed passed, $failed failed"
[ "$failed" = 0 ]
