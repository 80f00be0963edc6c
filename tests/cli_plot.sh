#!/bin/bash
# progan plot end to end: a generated stats.jsonl (plain numbers and
# stylegan2-ada {"num","mean","std"} objects, a missing key, a torn last line)
# must give a well-formed SVG with every panel and phase; bad input must fail
# with the documented exit codes. Usage: cli_plot.sh <progan binary> <source dir>
set -u
PROGAN=$1
WORK=$(mktemp -d /tmp/progan_cli_plot_XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fails=0
passes=0
check() { # name, then a command that must succeed
    local name=$1
    shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL $name" >&2; fails=$((fails + 1)); fi
}

RUN=$WORK/run
mkdir -p "$RUN"
# 40 ticks: 4x4 stable, 8x8 fading then stable, 16x16 fading then stable.
awk 'BEGIN {
  for (i = 1; i <= 40; i++) {
    kimg = i * 15.0
    if (i <= 10)      { res = 4;  alpha = 1 }
    else if (i <= 15) { res = 8;  alpha = (i - 10) / 5.0 }
    else if (i <= 25) { res = 8;  alpha = 1 }
    else if (i <= 30) { res = 16; alpha = (i - 25) / 5.0 }
    else              { res = 16; alpha = 1 }
    ld = 5.0 / i - 0.1; lg = -2.0 + 0.05 * i; real = 1.5 - 0.02 * i; fake = -1.0 + 0.01 * i
    printf "{\"Progress/tick\": %d, \"Progress/kimg\": %.1f, \"Progress/resolution\": %d, \"Progress/alpha\": %.2f, ", i, kimg, res, alpha
    printf "\"Loss/D/loss\": {\"num\": 64, \"mean\": %.5f, \"std\": 0.1}, \"Loss/G/loss\": %.5f, ", ld, lg
    printf "\"Loss/scores/real\": {\"num\": 64, \"mean\": %.4f, \"std\": 0.2}, \"Loss/scores/fake\": {\"num\": 64, \"mean\": %.4f, \"std\": 0.2}", real, fake
    if (i != 7) printf ", \"Loss/D/grad_norm\": {\"num\": 64, \"mean\": %.4f, \"std\": 0.05}", 1.0 + 0.1 * sin(i)
    printf ", \"Timing/sec_per_kimg\": %.3f}\n", 2.0 + 0.3 * res / 4
  }
  printf "{\"Progress/kimg\": 615.0, \"Loss/D/lo"   # torn last line, no newline
}' > "$RUN/stats.jsonl"

"$PROGAN" plot "$RUN" > "$WORK/out.txt" 2> "$WORK/err.txt"
rc=$?
check "plot exit 0 (rc $rc: $(cat "$WORK/err.txt"))" test $rc -eq 0
check "curves.svg written" test -s "$RUN/curves.svg"
check "torn line warned" grep -q "partial last line" "$WORK/err.txt"
check "no temp file left" bash -c "! ls '$RUN' | grep -q tmp"
# Well-formed XML with an <svg> root, 4 panels, phase rectangles and polylines.
check "svg is well-formed" python3 - "$RUN/curves.svg" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
texts = [t.text or "" for t in root.iter(ns + "text")]
for want in ["losses", "score gap (real - fake)", "gradient norm", "sec/kimg", "4x4", "8x8", "16x16",
             "Loss/D/loss", "Loss/G/loss"]:
    assert any(want in t for t in texts), "missing text " + want
lines = list(root.iter(ns + "polyline"))
# D, G, gap, sec/kimg: one each; grad norm split in two by the missing tick 7.
assert len(lines) == 6, "polylines: %d" % len(lines)
fading = [r for r in root.iter(ns + "rect") if r.find(ns + "title") is not None and "fading" in r.find(ns + "title").text]
assert len(fading) >= 2, "fading phases: %d" % len(fading)
pts = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
assert len(pts) == 40, "points in first line: %d" % len(pts)
assert all(pts[i][0] < pts[i + 1][0] for i in range(len(pts) - 1)), "x not increasing"
EOF

# A stats file with only some keys: the other panels are skipped, still valid.
RUN2=$WORK/partial
mkdir -p "$RUN2"
printf '{"Progress/kimg": 1.0, "Timing/sec_per_kimg": 3.0}\n{"Progress/kimg": 2.0, "Timing/sec_per_kimg": 3.5}\n' > "$RUN2/stats.jsonl"
"$PROGAN" plot "$RUN2" --out "$WORK/partial.svg" > /dev/null 2>&1
check "partial keys exit 0" test $? -eq 0
check "partial --out written" python3 -c "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])" "$WORK/partial.svg"
check "partial skips panels" bash -c "! grep -q 'gradient norm' '$WORK/partial.svg'"

# Non-finite values are written as null and counted ("nonfinite"): plotted as gaps.
RUN3=$WORK/nonfinite
mkdir -p "$RUN3"
printf '%s\n' '{"Progress/kimg":1,"Loss/D/loss":{"num":4,"mean":null,"std":null},"Timing/sec_per_kimg":null,"nonfinite":3}' \
    '{"Progress/kimg":2,"Loss/D/loss":{"num":4,"mean":0.5,"std":0.1},"Timing/sec_per_kimg":3,"Loss/G/loss":1}' \
    '{"Progress/kimg":3,"Loss/D/loss":{"num":4,"mean":0.4,"std":0.1},"Timing/sec_per_kimg":3,"Loss/G/loss":2}' > "$RUN3/stats.jsonl"
"$PROGAN" plot "$RUN3" > /dev/null 2> "$WORK/err.txt"
check "nulls plotted (rc $?: $(cat "$WORK/err.txt"))" test -s "$RUN3/curves.svg"
check "nulls svg well-formed" python3 -c "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])" "$RUN3/curves.svg"

# Errors: missing file, empty file, malformed middle line -> 1; usage -> 2; --help -> 0.
mkdir -p "$WORK/empty"
: > "$WORK/empty/stats.jsonl"
"$PROGAN" plot "$WORK/nonexistent" > /dev/null 2> "$WORK/err.txt"
check "missing stats.jsonl exit 1" test $? -eq 1
check "missing file message" grep -q "stats.jsonl" "$WORK/err.txt"
"$PROGAN" plot "$WORK/empty" > /dev/null 2> "$WORK/err.txt"
check "empty stats.jsonl exit 1" test $? -eq 1
printf '{"Progress/kimg": 1}\nnot json\n{"Progress/kimg": 2}\n' > "$WORK/empty/stats.jsonl"
"$PROGAN" plot "$WORK/empty" > /dev/null 2> "$WORK/err.txt"
check "malformed line exit 1" test $? -eq 1
check "malformed line named" grep -q "line 2" "$WORK/err.txt"
"$PROGAN" plot "$RUN" --bogus > /dev/null 2>&1
check "unknown flag exit 2" test $? -eq 2
"$PROGAN" plot > /dev/null 2>&1
check "no run exit 2" test $? -eq 2
"$PROGAN" plot --help > "$WORK/help.txt" 2>&1
check "--help exit 0" test $? -eq 0
check "--help text" grep -q "usage: progan plot" "$WORK/help.txt"

echo "cli_plot: $passes passed, $fails failed"
[ $fails -eq 0 ]
