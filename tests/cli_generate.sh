#!/usr/bin/env bash
# tests/cli_generate: `progan generate`, `interpolate` and `metrics` end to end on
# a tiny 16x16 export written by `test_snapshot --write-export` (built beside
# progan): file counts and names, grid size, PNG, frame count and the ffmpeg
# line, a dataset prepared from generated JPEGs, the JSON lines, usage errors.
set -u
BIN=${1:?usage: cli_generate.sh PROGAN_BIN SOURCE_DIR}
HELPER=$(dirname "$BIN")/test_snapshot
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: $2" >&2; fi; }
count() { ls "$1" 2> /dev/null | grep -c "$2"; }
# every run's stderr is appended here: the validation layer must stay silent
E=$T/stderr.txt

"$HELPER" --write-export "$T/e.safetensors"
check write_export '[ $? -eq 0 ] && [ -s "$T/e.safetensors" ]'

"$BIN" generate --snapshot "$T/e.safetensors" --seeds 0-3,9,20-22 --out "$T/a/b" > "$T/o1.txt" 2>> "$E"
check generate_rc '[ $? -eq 0 ]'
check generate_files '[ $(count "$T/a/b" "^seed00[0-9][0-9]\.jpg$") -eq 8 ] && [ -s "$T/a/b/seed0009.jpg" ] && [ -s "$T/a/b/seed0022.jpg" ]'
check generate_prints_where 'grep -q "$T/a/b" "$T/o1.txt"'

"$BIN" generate --snapshot "$T/e.safetensors" --seeds 0-9 --out "$T/g" --grid --format png > /dev/null 2>> "$E"
check grid_rc '[ $? -eq 0 ] && [ $(ls "$T/g" | wc -l) -eq 1 ]'
check grid_png 'file "$T/g/grid.png" | grep -q "PNG image data, 64 x 48"'

"$BIN" generate --snapshot "$T/e.safetensors" --seeds 5 --out "$T/p" --format png --batch 1 --trunc 0.5 > /dev/null 2>> "$E"
check png_trunc '[ $? -eq 0 ] && file "$T/p/seed0005.png" | grep -q "16 x 16"'

# a checkpoint training at 8x8 mid-fade renders its Gs at 8x8
"$HELPER" --write-checkpoint "$T/ck.safetensors"
"$BIN" generate --snapshot "$T/ck.safetensors" --seeds 1,2 --out "$T/ck" --format png > /dev/null 2>> "$E"
check checkpoint_8x8 '[ $? -eq 0 ] && file "$T/ck/seed0002.png" | grep -q "8 x 8"'

for bad in "3-1" "1,,2" "a-b" "-5" "0-200000" "" "1-"; do
    "$BIN" generate --snapshot "$T/e.safetensors" --seeds "$bad" --out "$T/x" 2> "$T/bad.txt"
    check "bad_seeds '$bad'" '[ $? -eq 2 ] && grep -q -- "--seeds" "$T/bad.txt"'
done
"$BIN" generate --snapshot "$T/e.safetensors" --seeds 1 --out "$T/x" --bogus 2> /dev/null
check unknown_flag '[ $? -eq 2 ]'
"$BIN" generate --snapshot "$T/e.safetensors" --seeds 1 --out "$T/x" --trunc 0 2> /dev/null
check bad_trunc '[ $? -eq 2 ]'
"$BIN" generate --snapshot "$T/e.safetensors" --seeds 5 --out "$T/np" --format png --batch 1 > /dev/null 2>> "$E"
check trunc_changes_image '! cmp -s "$T/p/seed0005.png" "$T/np/seed0005.png"'
"$BIN" generate --seeds 1 --out "$T/x" 2> /dev/null
check missing_snapshot '[ $? -eq 2 ]'
echo "not a model" > "$T/foreign.safetensors"
"$BIN" generate --snapshot "$T/foreign.safetensors" --seeds 1 --out "$T/x" 2> "$T/f.txt"
check foreign_snapshot '[ $? -eq 1 ] && grep -q "foreign.safetensors" "$T/f.txt"'
"$BIN" generate --help > "$T/h.txt"
check help '[ $? -eq 0 ] && grep -q -- "--trunc" "$T/h.txt" && grep -q "default jpg" "$T/h.txt"'

"$BIN" interpolate --snapshot "$T/e.safetensors" --seeds 1,7,3 --frames 4 --out "$T/w" > "$T/o2.txt" 2>> "$E"
check interpolate_rc '[ $? -eq 0 ]'
check interpolate_frames '[ $(count "$T/w" "^frame[0-9]\{5\}\.jpg$") -eq 9 ] && [ -s "$T/w/frame00008.jpg" ]'
check interpolate_ffmpeg 'grep -q "ffmpeg -framerate 30 -i $T/w/frame%05d.jpg" "$T/o2.txt"'
"$BIN" interpolate --snapshot "$T/e.safetensors" --seeds 1,7,3 --frames 4 --loop --out "$T/wl" > /dev/null 2>> "$E"
check interpolate_loop '[ $? -eq 0 ] && [ $(count "$T/wl" "^frame") -eq 12 ]'
"$BIN" interpolate --snapshot "$T/e.safetensors" --seeds 1 --frames 4 --out "$T/x" 2> /dev/null
check interpolate_one_seed '[ $? -eq 2 ]'

# a dataset of generated 16x16 JPEGs, then the metrics against it
"$BIN" generate --snapshot "$T/e.safetensors" --seeds 100-111 --out "$T/reals" > /dev/null 2>> "$E"
"$BIN" prepare "$T/reals" "$T/ds.pgd" --resolution 16 --quiet 2>> "$E"
check prepare '[ $? -eq 0 ]'
"$BIN" metrics --snapshot "$T/e.safetensors" --data "$T/ds.pgd" --num 8 > "$T/m.txt" 2>> "$E"
check metrics_rc '[ $? -eq 0 ]'
check metrics_swd_json 'grep -q "^{\"metric\":\"swd\".*\"levels\":{\"16\":.*\"floor\":{" "$T/m.txt"'
check metrics_msssim_json 'grep -q "^{\"metric\":\"msssim\".*\"value\":[0-9]" "$T/m.txt"'
check metrics_table 'grep -q "^swd  *average" "$T/m.txt"'
"$BIN" metrics --snapshot "$T/e.safetensors" --data "$T/ds.pgd" --metrics swd --num 50 > /dev/null 2> "$T/cap.txt"
check metrics_cap '[ $? -eq 0 ] && grep -q "uses 12 per set" "$T/cap.txt"'
"$BIN" prepare "$T/reals" "$T/ds8.pgd" --resolution 8 --quiet 2>> "$E"
"$BIN" metrics --snapshot "$T/e.safetensors" --data "$T/ds8.pgd" --num 4 2> "$T/small.txt" > /dev/null
check metrics_small_dataset '[ $? -eq 1 ] && grep -q "below the snapshot" "$T/small.txt"'
"$BIN" metrics --snapshot "$T/e.safetensors" --data "$T/ds.pgd" --metrics fid 2> "$T/noinc.txt"
check metrics_fid_needs_inception '[ $? -eq 2 ] && grep -q -- "--inception is required" "$T/noinc.txt"'
"$BIN" metrics --snapshot "$T/e.safetensors" --data "$T/ds.pgd" --metrics kid 2> /dev/null
check metrics_unknown '[ $? -eq 2 ]'

check no_validation_messages '! grep -q "vulkan validation" "$E"'
echo "cli_generate: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
