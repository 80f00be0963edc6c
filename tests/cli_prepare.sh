#!/usr/bin/env bash
# tests/cli_prepare: `progan prepare` and `progan info` end to end on a folder made
# here (cjpeg from PPMs written by python3): exit codes, report, info output, errors.
set -u
BIN=${1:?usage: cli_prepare.sh PROGAN_BIN SOURCE_DIR}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: $2" >&2; fi; }

mkdir -p "$T/src/sub" "$T/empty"
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
for i, (w, h) in enumerate([(80, 60), (64, 64), (50, 90)]):
    with open(f"{t}/p{i}.ppm", "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(bytes((x * 3 + y + i * 40) % 256 for y in range(h) for x in range(w) for _ in range(3)))
PY
cjpeg -quality 90 -outfile "$T/src/a.jpg" "$T/p0.ppm"
cjpeg -progressive -outfile "$T/src/sub/b.jpg" "$T/p1.ppm"
cjpeg -grayscale -outfile "$T/src/c.jpg" "$T/p2.ppm"
: > "$T/src/zero.jpg"
echo hello > "$T/src/text.jpg"
echo ignored > "$T/empty/readme.txt"

"$BIN" prepare "$T/src" "$T/out.pgd" --resolution 32 > "$T/o.txt" 2> "$T/e.txt"
check prepare_rc '[ $? -eq 0 ]'
check summary 'grep -q "wrote 3 images" "$T/e.txt"'
check report 'grep -q "zero.jpg" "$T/prepare-report.txt" && grep -q "text.jpg" "$T/prepare-report.txt"'
check no_temp '[ -z "$(ls "$T" | grep tmp-)" ]'
"$BIN" info "$T/out.pgd" --verify > "$T/info.txt" 2>&1
check info_rc '[ $? -eq 0 ]'
check info_fields 'grep -q "images        3" "$T/info.txt" && grep -q "4x4" "$T/info.txt" && grep -q "pixel hash verified" "$T/info.txt"'

"$BIN" prepare --help > "$T/h.txt"
check help '[ $? -eq 0 ] && grep -q -- "--crop" "$T/h.txt" && grep -q "default center" "$T/h.txt"'
"$BIN" prepare "$T/src" "$T/x.pgd" --resolution 32 --bogus 2> /dev/null
check unknown_flag '[ $? -eq 2 ]'
"$BIN" prepare "$T/src" "$T/x.pgd" 2> /dev/null
check missing_resolution '[ $? -eq 2 ]'
"$BIN" prepare "$T/src" "$T/x.pgd" --resolution 48 2> "$T/e2.txt"
check bad_resolution '[ $? -eq 1 ] && grep -q "power of two" "$T/e2.txt"'
"$BIN" prepare "$T/empty" "$T/x.pgd" --resolution 32 2> "$T/e3.txt"
check empty_folder '[ $? -eq 1 ] && grep -q "no image files" "$T/e3.txt" && [ ! -e "$T/x.pgd" ]'
head -c 5000 "$T/out.pgd" > "$T/cut.pgd"
"$BIN" info "$T/cut.pgd" 2> "$T/e4.txt" > /dev/null
check truncated_info '[ $? -eq 1 ] && grep -q "truncated" "$T/e4.txt"'
"$BIN" info "$T/empty/readme.txt" > /dev/null 2>&1
check foreign_info '[ $? -eq 1 ]'
"$BIN" info 2> /dev/null
check info_usage '[ $? -eq 2 ]'

echo "cli_prepare: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
