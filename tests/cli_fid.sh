#!/usr/bin/env bash
# tests/cli_fid: `progan metrics --metrics fid,is --inception FILE` and
# `progan train --metrics fid` end to end, with random FID Inception weights
# under pytorch-fid's names (written by `test_inception --write-weights`) and
# PROGAN_FID_SIZE=75 so the network runs at 75x75 instead of 299x299 (the
# values then mean nothing; the plumbing is what is tested): the JSON lines,
# the dataset-statistics cache and its reuse, progress lines, the errors.
set -u
BIN=${1:?usage: cli_fid.sh PROGAN_BIN SOURCE_DIR}
DIR=$(dirname "$BIN")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: $2" >&2; fi; }
E=$T/stderr.txt
export PROGAN_FID_SIZE=75

"$DIR/test_inception" --write-weights "$T/w.safetensors"
check write_weights '[ $? -eq 0 ] && [ -s "$T/w.safetensors" ]'
"$DIR/test_snapshot" --write-export "$T/e.safetensors"
"$BIN" generate --snapshot "$T/e.safetensors" --seeds 100-111 --out "$T/reals" > /dev/null 2>> "$E"
"$BIN" prepare "$T/reals" "$T/ds.pgd" --resolution 16 --quiet 2>> "$E"
check prepare '[ $? -eq 0 ]'

run_fid() { "$BIN" metrics --snapshot "$T/e.safetensors" --data "$T/ds.pgd" --metrics fid,is \
    --inception "$T/w.safetensors" --num 10 "$@"; }
run_fid > "$T/m1.txt" 2> "$T/p1.txt"
check fid_rc '[ $? -eq 0 ]'
cat "$T/p1.txt" >> "$E"
check fid_json 'grep -q "^{\"metric\":\"fid\",\"resolution\":16,\"num\":10,\"reals\":10,\"value\":[0-9]" "$T/m1.txt"'
check is_json 'grep -q "^{\"metric\":\"is\",\"resolution\":16,\"num\":10,\"splits\":10,\"mean\":[0-9]" "$T/m1.txt"'
check fid_first_uncached 'grep -q "\"reals_cached\":false" "$T/m1.txt"'
check cache_written '[ $(ls "$T" | grep -c "^ds\.pgd\.fid-.*-r16-n10-s75\.safetensors$") -eq 1 ]'
check progress_eta 'grep -q "images through Inception, .* images/s, ETA" "$T/p1.txt"'
run_fid > "$T/m2.txt" 2>> "$E"
check fid_second_cached 'grep -q "\"reals_cached\":true" "$T/m2.txt"'
v1=$(grep -o '"metric":"fid".*"value":[^,]*' "$T/m1.txt" | sed 's/.*"value"://')
v2=$(grep -o '"metric":"fid".*"value":[^,]*' "$T/m2.txt" | sed 's/.*"value"://')
check fid_same_from_cache '[ -n "$v1" ] && [ "$v1" = "$v2" ]'

# one clear error for a truncated weights file, before any image is made
head -c 100000 "$T/w.safetensors" > "$T/cut.safetensors"
"$BIN" metrics --snapshot "$T/e.safetensors" --data "$T/ds.pgd" --metrics fid \
    --inception "$T/cut.safetensors" --num 10 > /dev/null 2> "$T/cut.txt"
check truncated_rc '[ $? -eq 1 ] && [ $(wc -l < "$T/cut.txt") -eq 1 ] && grep -q "Inception weights.*cut.safetensors.*inception_to_safetensors.py" "$T/cut.txt"'
"$BIN" metrics --snapshot "$T/e.safetensors" --metrics is --num 10 2> "$T/noinc.txt" > /dev/null
check is_needs_inception '[ $? -eq 2 ] && grep -q -- "--inception is required" "$T/noinc.txt"'

# training: FID at every snapshot into metric-fid.jsonl
"$BIN" train --data "$T/ds.pgd" --out "$T/runs" --preset tiny --kimg 0.048 --phase-kimg 0.008,0.008 \
    --tick-kimg 0.008 --snap 3 --metrics fid --metrics-num 16 --inception "$T/w.safetensors" \
    > /dev/null 2>> "$E"
check train_rc '[ $? -eq 0 ]'
check train_metric_fid 'grep -q "^{\"kimg\":.*\"resolution\":.*\"fid\":[0-9]" "$T"/runs/*/metric-fid.jsonl'
"$BIN" train --data "$T/ds.pgd" --out "$T/runs2" --preset tiny --kimg 0.016 --metrics fid \
    > /dev/null 2> "$T/train_noinc.txt"
check train_needs_inception '[ $? -ne 0 ] && grep -q -- "--inception" "$T/train_noinc.txt"'

check no_validation_messages '! grep -q "vulkan validation" "$E"'
echo "cli_fid: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
